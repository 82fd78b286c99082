import { closeSync, constants, fstatSync, openSync, type BigIntStats } from "node:fs";
import { cpus } from "node:os";
import { RepositoryError } from "../errors";
import type { Chunk } from "../format/dirent";
import { parseHex, type ContentHash, type HashAlgorithm, type ObjectSuffix } from "../format/hash";
import type { ChunkingOptions } from "./chunker";
import { describeErrno, storageError } from "./errors";
import type { IngestReply, IngestSettings, IngestTask } from "./ingest-worker";
import { readStatOf, sameVersion, type ReadStat } from "./read-stat";

/** A file's published content and the metadata of the version that was read. */
export interface IngestResult { hash?: ContentHash; chunks?: Chunk[]; stat: ReadStat; storedBytes: number; newObjects: number; reusedObjects: number; }

export interface IngestHooks {
  /** On the main thread, after each object (a whole file or a chunk) is stored, before more work is handed out. */
  stored?(file: string, sourceBytes: number): void;
}

// Small tasks go in batches (one message round trip per batch, not per file);
// a batch closes at this many tasks or bytes.
const BATCH_TASKS = 64;
const BATCH_BYTES = 8 << 20;

// Inside the compiled binary the worker is an entry point at its project path
// (build.ts lists it); from source it sits next to this module.
const WORKER_SCRIPT = import.meta.url.includes("/$bunfs/")
  ? "./src/cvmfs/publish/ingest-worker.ts"
  : new URL("./ingest-worker.ts", import.meta.url).href;

type TaskBody = IngestTask extends infer T ? (T extends { id: number } ? Omit<T, "id"> : never) : never;
interface Pending { task: IngestTask; weight: number; resolve: (r: IngestReply) => void; reject: (e: Error) => void; }
type Attempt = IngestResult | { changed: string };

/**
 * Compresses, hashes and stores file content on every core. Small files are
 * one task each (the worker opens, reads and checks them); a large file is
 * opened once here, cut into chunks (one task), then every chunk is a task of
 * its own reading that descriptor, so one big file keeps all cores busy and
 * all its chunks come from the same file. A file whose size or mtime moved
 * while it was read is read again once, then refused.
 */
export class IngestPool {
  private readonly queue: Pending[] = [];
  private readonly inFlight = new Map<number, Pending>();
  private readonly idle: Worker[] = [];
  private readonly workers: Worker[] = [];
  private nextId = 0;
  // Large files open at once, each holding a descriptor until its chunks are stored.
  private openSlots: number;
  private readonly slotWaiters: (() => void)[] = [];

  private constructor(private readonly settings: IngestSettings, count: number, private readonly hooks: IngestHooks) {
    this.openSlots = Math.max(4, 2 * count);
    for (let i = 0; i < count; i++) {
      const w = new Worker(WORKER_SCRIPT);
      w.postMessage({ settings });
      w.onmessage = (e: MessageEvent) => this.settle(w, e.data as IngestReply[]);
      w.onerror = (e) => this.fail(new Error(`ingest worker failed: ${e.message}`));
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  static create(o: { workers?: number; storageDir: string; algorithm: HashAlgorithm; chunking: ChunkingOptions | null; hooks?: IngestHooks }): IngestPool {
    return new IngestPool({ storageDir: o.storageDir, algorithm: o.algorithm, chunking: o.chunking }, Math.max(1, o.workers ?? cpus().length), o.hooks ?? {});
  }

  /** Stores `file` (`scannedSize` as the scan saw it decides the route; the file read decides the rest). */
  async ingest(file: string, scannedSize: number): Promise<IngestResult> {
    const first = await this.attempt(file, scannedSize);
    if (!("changed" in first)) return first;
    const second = await this.attempt(file, scannedSize);
    if (!("changed" in second)) return second;
    throw new RepositoryError(`${file}: changed while being read, twice (${second.changed}); publish again once it is stable`);
  }

  private async attempt(file: string, scannedSize: number): Promise<Attempt> {
    const c = this.settings.chunking;
    if (!c || scannedSize <= c.min) {
      const r = this.check(file, await this.run({ kind: "file", file, maxSize: c ? c.min : null }, scannedSize));
      if (r.changed) return { changed: r.changed };
      if (!r.grew) return { ...this.collect([r]), stat: r.stat! };
    }
    return this.attemptLarge(file);
  }

  private async attemptLarge(file: string): Promise<Attempt> {
    await this.takeSlot();
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      this.releaseSlot();
      throw sourceError(file, err);
    }
    const tasks: Promise<IngestReply>[] = [];
    try {
      const before = this.fstat(fd, file);
      if (!before.isFile()) return { changed: "it is no longer a regular file" };
      const size = Number(before.size);
      const c = this.settings.chunking!;
      let ranges = [{ offset: 0, length: size }];
      if (size > c.min) {
        const cuts = this.check(file, await this.run({ kind: "cuts", file, fd, size }, size));
        if (cuts.changed) return { changed: cuts.changed };
        ranges = cuts.cuts!.map((end, i) => ({ offset: i ? cuts.cuts![i - 1] : 0, length: end - (i ? cuts.cuts![i - 1] : 0) }));
      }
      const suffix: ObjectSuffix = ranges.length > 1 ? "P" : "";
      for (const r of ranges) tasks.push(this.run({ kind: "range", file, fd, ...r, suffix }, r.length));
      const replies = (await Promise.all(tasks)).map((r) => this.check(file, r));
      const changed = replies.find((r) => r.changed)?.changed;
      if (changed) return { changed };
      if (!sameVersion(before, this.fstat(fd, file))) return { changed: "its size or modification time moved" };
      const result: IngestResult = { ...this.collect(replies), stat: readStatOf(before) };
      if (ranges.length > 1) {
        result.hash = undefined;
        result.chunks = replies.map((r, i) => ({ offset: ranges[i].offset, size: ranges[i].length, hash: parseHex(r.hash!) }));
      }
      return result;
    } finally {
      // Every task reading this descriptor must be done before it is closed (its number could be reused at once).
      await Promise.allSettled(tasks);
      closeSync(fd);
      this.releaseSlot();
    }
  }

  private fstat(fd: number, file: string): BigIntStats {
    try {
      return fstatSync(fd, { bigint: true });
    } catch (err) {
      throw sourceError(file, err);
    }
  }

  /** A worker's failure as one line naming the side that failed: the source file, or the storage. */
  private check(file: string, r: IngestReply): IngestReply {
    if (!r.error) return r;
    if (r.error.where === "source") throw sourceError(file, r.error);
    if (r.error.where === "storage") throw storageError(this.settings.storageDir, r.error, "storing objects");
    throw new Error(`${file}: ${r.error.message}`);
  }

  /** Totals over a file's replies; the hash is the single object's (whole-file case). */
  private collect(replies: IngestReply[]): Omit<IngestResult, "stat"> {
    const news = replies.filter((r) => r.newObject).length;
    return {
      hash: replies.length === 1 ? parseHex(replies[0].hash!) : undefined,
      storedBytes: replies.reduce((s, r) => s + r.storedBytes, 0), newObjects: news, reusedObjects: replies.length - news,
    };
  }

  private async takeSlot(): Promise<void> {
    if (this.openSlots > 0) { this.openSlots--; return; }
    await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
  }

  private releaseSlot(): void {
    const next = this.slotWaiters.shift();
    if (next) next();
    else this.openSlots++;
  }

  private run(body: TaskBody, weight: number): Promise<IngestReply> {
    return new Promise((resolve, reject) => {
      this.queue.push({ task: { ...body, id: this.nextId++ } as IngestTask, weight, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.idle.length && this.queue.length) {
      const batch: Pending[] = [];
      let bytes = 0;
      while (this.queue.length && batch.length < BATCH_TASKS && (batch.length === 0 || bytes + this.queue[0].weight <= BATCH_BYTES)) {
        const p = this.queue.shift()!;
        bytes += p.weight;
        batch.push(p);
      }
      for (const p of batch) this.inFlight.set(p.task.id, p);
      this.idle.pop()!.postMessage({ tasks: batch.map((p) => p.task) });
    }
  }

  private settle(worker: Worker, replies: IngestReply[]): void {
    for (const r of replies) {
      const p = this.inFlight.get(r.id);
      if (!p) continue;
      this.inFlight.delete(r.id);
      p.resolve(r);
      if (r.hash && p.task.kind !== "cuts") this.hooks.stored?.(p.task.file, p.task.kind === "range" ? p.task.length : r.stat!.size);
    }
    this.idle.push(worker);
    this.dispatch();
  }

  private fail(err: Error): void {
    for (const p of [...this.inFlight.values(), ...this.queue]) p.reject(err);
    this.inFlight.clear();
    this.queue.length = 0;
  }

  async close(): Promise<void> {
    this.fail(new Error("the ingest pool was closed")); // what is still waiting settles (and closes its descriptors)
    for (const w of this.workers) w.terminate();
  }
}

/** A source file that could not be read, in one line: vanished since the scan, or the system's reason. */
export function sourceError(file: string, err: unknown): RepositoryError {
  const code = typeof err === "object" && err !== null && "code" in err ? (err as { code?: string }).code : undefined;
  if (code === "ENOENT") return new RepositoryError(`${file}: vanished during the sync (it was there when the tree was scanned)`);
  if (code === "ELOOP") return new RepositoryError(`${file}: was replaced by a symbolic link during the sync`);
  return new RepositoryError(`${file}: cannot read: ${describeErrno(err)}`);
}
