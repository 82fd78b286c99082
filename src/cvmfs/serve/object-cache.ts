/**
 * Small data objects kept in memory, so that answering one costs no open,
 * stat, read and close (on a busy stratum those system calls are most of the
 * work). Safe because an object's name is its content hash: the bytes under
 * a name never change. An entry is dropped after MAX_AGE_MS all the same, so
 * an object removed from the storage (garbage collection) is not served much
 * longer than nginx's open_file_cache would. Bounded in bytes; the least
 * recently used entries go first.
 */
export interface CachedObject { bytes: Buffer; mtimeMs: number; at: number; }

const MAX_AGE_MS = 60_000;
/** Objects up to this size are kept (the small ones; big chunks are streamed from their file). */
export const CACHED_OBJECT_MAX = 64 << 10;

export class ObjectCache {
  private readonly entries = new Map<string, CachedObject>();
  private bytes = 0;

  constructor(private readonly capacity: number) {}

  get(key: string, now: number): CachedObject | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    if (now - e.at > MAX_AGE_MS) { this.bytes -= e.bytes.length; return undefined; }
    this.entries.set(key, e); // most recently used last
    return e;
  }

  set(key: string, bytes: Buffer, mtimeMs: number, now: number): void {
    if (bytes.length > CACHED_OBJECT_MAX || bytes.length > this.capacity) return;
    const old = this.entries.get(key);
    if (old) { this.entries.delete(key); this.bytes -= old.bytes.length; }
    this.entries.set(key, { bytes, mtimeMs, at: now });
    this.bytes += bytes.length;
    for (const [k, e] of this.entries) {
      if (this.bytes <= this.capacity) break;
      this.entries.delete(k);
      this.bytes -= e.bytes.length;
    }
  }

  get size(): number { return this.bytes; }
}
