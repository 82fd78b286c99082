import { cpus } from "node:os";
import type { Chunk } from "../dirent";
import { parseHex, type ContentHash, type HashAlgorithm, type ObjectSuffix } from "../hash";
import type { ChunkingOptions } from "./chunker";
import type { IngestReply, IngestSettings, IngestTask } from "./ingest-worker";

export interface IngestResult { hash?: ContentHash; chunks?: Chunk[]; storedBytes: number; newObjects: number; reusedObjects: number; }

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

/**
 * Compresses, hashes and stores file content on every core. Small files are
 * one task each; a large file is first cut into chunks (one task), then every
 * chunk is a task of its own, so one big file keeps all cores busy.
 */
export class IngestPool {
  private readonly queue: Pending[] = [];
  private readonly inFlight = new Map<number, Pending>();
  private readonly idle: Worker[] = [];
  private readonly workers: Worker[] = [];
  private nextId = 0;

  private constructor(private readonly settings: IngestSettings, count: number) {
    for (let i = 0; i < count; i++) {
      const w = new Worker(WORKER_SCRIPT);
      w.postMessage({ settings });
      w.onmessage = (e: MessageEvent) => this.settle(w, e.data as IngestReply[]);
      w.onerror = (e) => this.fail(new Error(`ingest worker failed: ${e.message}`));
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  static create(o: { workers?: number; storageDir: string; algorithm: HashAlgorithm; chunking: ChunkingOptions | null }): IngestPool {
    return new IngestPool({ storageDir: o.storageDir, algorithm: o.algorithm, chunking: o.chunking }, Math.max(1, o.workers ?? cpus().length));
  }

  async ingest(file: string, size: number): Promise<IngestResult> {
    const c = this.settings.chunking;
    if (!c || size <= c.min) return this.collect([await this.run({ kind: "range", file, offset: 0, length: size, suffix: "" }, size)]);
    const { cuts } = await this.run({ kind: "cuts", file, size }, size);
    if (cuts!.length === 1) return this.collect([await this.run({ kind: "range", file, offset: 0, length: size, suffix: "" }, size)]);
    const ranges = cuts!.map((end, i) => ({ offset: i ? cuts![i - 1] : 0, length: end - (i ? cuts![i - 1] : 0) }));
    const replies = await Promise.all(ranges.map((r) => this.run({ kind: "range", file, ...r, suffix: "P" as ObjectSuffix }, r.length)));
    const result = this.collect(replies);
    result.hash = undefined;
    result.chunks = replies.map((r, i) => ({ offset: ranges[i].offset, size: ranges[i].length, hash: parseHex(r.hash!) }));
    return result;
  }

  /** Totals over a file's replies; the hash is the single object's (whole-file case). */
  private collect(replies: IngestReply[]): IngestResult {
    const news = replies.filter((r) => r.newObject).length;
    return {
      hash: replies.length === 1 ? parseHex(replies[0].hash!) : undefined,
      storedBytes: replies.reduce((s, r) => s + r.storedBytes, 0), newObjects: news, reusedObjects: replies.length - news,
    };
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
      if (r.error) p.reject(new Error(r.error));
      else p.resolve(r);
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
    for (const w of this.workers) w.terminate();
  }
}
