import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../sys/atomic";
import { objectPath, type ObjectSuffix } from "../format/hash";
import type { StoredObject } from "../format/object";
import { syncfs } from "../../sys/syncfs";

/**
 * A stratum-0 storage directory: data/00..ff plus data/txn for objects being
 * written, and the signed root files. Objects are immutable: one that exists
 * is never rewritten; a new one appears under its name only when complete.
 */
export class LocalStorage {
  constructor(readonly root: string) {}

  /** The skeleton upstream's mkfs creates: data/00 … data/ff and data/txn. */
  createSkeleton(): void {
    for (let i = 0; i < 256; i++) mkdirSync(join(this.root, "data", i.toString(16).padStart(2, "0")), { recursive: true });
    mkdirSync(join(this.root, "data", "txn"), { recursive: true });
  }

  isStorage(): boolean {
    return existsSync(join(this.root, "data", "txn"));
  }

  /** Stores an object unless it is already there; returns whether it wrote. */
  put(obj: StoredObject, suffix: ObjectSuffix): boolean {
    const final = join(this.root, objectPath(obj.hash, suffix));
    if (existsSync(final)) return false;
    writeFileAtomic(final, obj.bytes, 0o644, join(this.root, "data", "txn")); // leftovers in txn are cleared by the next publish
    return true;
  }

  /** Objects half-written by a publisher that died, and its work files; only called while holding the publish lock. */
  clearTransactions(): number {
    const txn = join(this.root, "data", "txn");
    const leftovers = readdirSync(txn);
    for (const f of leftovers) rmSync(join(txn, f), { force: true, recursive: true });
    this.removeWorkDir();
    return leftovers.length;
  }

  /**
   * Where a publish builds catalogs and copies of the history and reflog: on
   * the storage's filesystem (a full disk is the storage's), one at a time
   * (under the publish lock), removed by the next publish if this one dies.
   */
  get workDir(): string {
    return join(this.root, ".cvm_publish.work");
  }

  removeWorkDir(): void {
    rmSync(this.workDir, { force: true, recursive: true });
  }

  /**
   * Makes every object written so far durable before a catalog or manifest
   * refers to it: one syncfs(2) for the storage's filesystem instead of an
   * fsync per object.
   */
  syncObjects(): void {
    const fd = openSync(this.root, "r");
    try {
      syncfs(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** .cvmfspublished, .cvmfswhitelist, .cvmfsreflog: replaced atomically. */
  writeRootFile(name: string, bytes: Uint8Array): void {
    writeFileAtomic(join(this.root, name), bytes, 0o644);
  }
}
