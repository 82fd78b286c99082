import { closeSync, existsSync, fchmodSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { chmod, rename, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { LocalStorage } from "./storage";
import { storageError } from "./errors";

// Whether the umask takes bits off 0644 (then a file's mode is set after it is created).
const NARROWING_UMASK = (process.umask() & 0o644) !== 0;

/**
 * Objects written into a replica's storage: each through data/txn and a
 * rename, so none is ever half-written under its name (a kill leaves only
 * txn files, which the next run clears). Nothing is fsynced one by one;
 * `durable()` flushes the whole filesystem once for every object written so
 * far (syncfs), and is what a catalog waits for before it is stored: a
 * catalog in the replica means everything below it is there, even after a
 * power cut. Callers that ask in the same turn of the event loop share one
 * flush.
 */
export class ReplicaStore {
  private counter = 0;
  private flush?: Promise<void>;

  constructor(readonly storage: LocalStorage) {}

  get root(): string { return this.storage.root; }

  has(path: string): boolean {
    return existsSync(join(this.storage.root, path));
  }

  /** Writes `bytes` to a new file in data/txn; returns its name there. */
  stage(path: string, bytes: Uint8Array): string {
    const tmp = join(this.storage.root, "data", "txn", `${basename(path)}.${process.pid}.${this.counter++}.tmp`);
    try {
      const fd = openSync(tmp, "wx", 0o644);
      try {
        fchmodSync(fd, 0o644); // readable by the web server's user whatever our umask
        let at = 0;
        while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      rmSync(tmp, { force: true });
      throw storageError(this.storage.root, err, `storing ${path}`);
    }
    return tmp;
  }

  /** Moves a staged file to its name (an object already there has the same bytes: its name is their hash). */
  commit(staged: string, path: string): void {
    try {
      renameSync(staged, join(this.storage.root, path));
    } catch (err) {
      rmSync(staged, { force: true });
      throw storageError(this.storage.root, err, `storing ${path}`);
    }
  }

  put(path: string, bytes: Uint8Array): void {
    this.commit(this.stage(path, bytes), path);
  }

  /**
   * As put, with the file work on the thread pool: the main thread, which
   * receives every download and checks every hash, never waits for the disk
   * (10 % of a snapshot of small objects on a busy machine).
   */
  async putAsync(path: string, bytes: Uint8Array): Promise<void> {
    const tmp = `${this.storage.root}/data/txn/${basename(path)}.${process.pid}.${this.counter++}.tmp`;
    try {
      await writeFile(tmp, bytes, { flag: "wx", mode: 0o644 });
      if (NARROWING_UMASK) await chmod(tmp, 0o644); // readable by the web server's user whatever our umask
      await rename(tmp, `${this.storage.root}/${path}`);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw storageError(this.storage.root, err, `storing ${path}`);
    }
  }

  discard(staged: string): void {
    rmSync(staged, { force: true });
  }

  durable(): Promise<void> {
    this.flush ??= new Promise<void>((resolve, reject) => setImmediate(() => {
      this.flush = undefined;
      try {
        this.storage.syncObjects();
        resolve();
      } catch (err) {
        reject(storageError(this.storage.root, err, "flushing stored objects to disk"));
      }
    }));
    return this.flush;
  }
}

/**
 * At most `size` jobs at once. After the first failure no new job starts
 * (those waiting are refused) and `failure` holds that first error: a
 * snapshot stops at once, reports the first cause, and leaves no write
 * running behind it.
 */
export class Pool {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  failure: unknown;
  failed = false;

  constructor(private readonly size: number) {}

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.failed) throw this.failure;
    if (this.active < this.size) this.active++;
    else await new Promise<void>((go) => this.waiting.push(go));
    try {
      if (this.failed) throw this.failure;
      return await job();
    } catch (err) {
      this.fail(err);
      throw err;
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the slot passes to it
      else this.active--;
    }
  }

  fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.failure = err;
  }
}

/** Waits for every promise to settle, then throws the first failure (so nothing is still running when the caller moves on). */
export async function settleAll(jobs: Promise<unknown>[], pool: Pool): Promise<void> {
  const results = await Promise.allSettled(jobs);
  if (pool.failed) throw pool.failure;
  const rejected = results.find((r) => r.status === "rejected");
  if (rejected) throw (rejected as PromiseRejectedResult).reason;
}
