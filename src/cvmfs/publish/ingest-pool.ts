import { cpus } from "node:os";
import type { Chunk } from "../dirent";
import { parseHex, type ContentHash, type HashAlgorithm } from "../hash";
import type { ChunkingOptions } from "./chunker";
import type { IngestReply, IngestSettings, IngestTask } from "./ingest-worker";

export interface IngestResult { hash?: ContentHash; chunks?: Chunk[]; storedBytes: number; newObjects: number; reusedObjects: number; }

// Small files go in batches (one message round trip per batch, not per file);
// a batch closes at this many files or bytes.
const BATCH_FILES = 64;
const BATCH_BYTES = 8 << 20;

// Inside the compiled binary the worker is an entry point at its project path
// (build.ts lists it); from source it sits next to this module.
const WORKER_SCRIPT = import.meta.url.includes("/$bunfs/")
  ? "./src/cvmfs/publish/ingest-worker.ts"
  : new URL("./ingest-worker.ts", import.meta.url).href;

interface Pending { task: IngestTask; resolve: (r: IngestResult) => void; reject: (e: Error) => void; }

/**
 * Compresses, hashes and stores file content on every core: one worker per
 * CPU, each fed batches of files; each file's promise settles with its
 * object hash or chunk list.
 */
export class IngestPool {
  private readonly queue: Pending[] = [];
  private readonly inFlight = new Map<number, Pending>();
  private readonly idle: Worker[] = [];
  private readonly workers: Worker[] = [];
  private nextId = 0;

  private constructor(settings: IngestSettings, count: number) {
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

  ingest(file: string, size: number): Promise<IngestResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ task: { id: this.nextId++, file, size }, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.idle.length && this.queue.length) {
      const batch: Pending[] = [];
      let bytes = 0;
      while (this.queue.length && batch.length < BATCH_FILES && (batch.length === 0 || bytes + this.queue[0].task.size <= BATCH_BYTES)) {
        const p = this.queue.shift()!;
        bytes += p.task.size;
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
      else p.resolve({
        hash: r.bulk ? parseHex(r.bulk) : undefined,
        chunks: r.chunks?.map((c) => ({ offset: c.offset, size: c.size, hash: parseHex(c.hash) })),
        storedBytes: r.storedBytes, newObjects: r.newObjects, reusedObjects: r.reusedObjects,
      });
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
