import { Database } from "bun:sqlite";
import { chmodSync, closeSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, rmSync, unlinkSync, constants } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, writeFile, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { CvmError, errnoCode } from "../../cli/errors";
import { log } from "../../cli/log";
import { toHex, type ContentHash } from "../format/hash";
import { readFull } from "../../sys/read-full";

/**
 * The local cache (spec §6.1–6.2), in the stock layout where it costs
 * nothing: objects stored inflated at <dir>/<hex[0:2]>/<hex[2:]> with no
 * type suffix (catalogs are plain SQLite files there, opened in place),
 * downloads written under txn/ and renamed into place only once complete
 * and verified, so a kill at any point never leaves a partial entry under
 * a final name. Accounting for the quota is an SQLite database (cachedb,
 * WAL) that several cvm processes share: every change is a transaction,
 * and a file that vanished under another process is simply a miss.
 */

export type EntryKind = "regular" | "catalog";

/**
 * Entries over 1 MiB are written in slices that end on 1 MiB boundaries.
 * The page cache keeps a new file in folios shaped by the writes that filled
 * it, and warm reads of cache files are what the mount passes through:
 * measured on Linux 6.18/ext4, a 128 MB file written in aligned 1 MiB writes
 * reads back from the page cache about 20% faster than the same file written
 * in one write or in unaligned 4 MB pieces (a chunked file's pieces).
 */
const WRITE_SLICE = 1 << 20;

async function writeSliced(out: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < bytes.length;) {
    const at = position + done;
    const { bytesWritten } = await out.write(bytes, done, Math.min(bytes.length - done, WRITE_SLICE - (at % WRITE_SLICE)), at);
    if (bytesWritten <= 0) throw new Error(`wrote nothing at offset ${at}`);
    done += bytesWritten;
  }
}

export interface CacheUsage { dir: string; entries: number; bytes: number; catalogs: number; pinned: number; limitBytes: number | null; }

const SCHEMA = [
  "CREATE TABLE IF NOT EXISTS cache_catalog (sha1 TEXT PRIMARY KEY, size INTEGER NOT NULL, acseq INTEGER NOT NULL, type INTEGER NOT NULL)",
  "CREATE INDEX IF NOT EXISTS idx_acseq ON cache_catalog (acseq)",
  "CREATE TABLE IF NOT EXISTS properties (key TEXT PRIMARY KEY, value TEXT)",
];
const TYPE: Record<EntryKind, number> = { regular: 0, catalog: 1 };

const isBusy = (err: unknown) => /^SQLITE_BUSY/.test(String((err as { code?: unknown }).code));

/**
 * Opens (creating it if need be) the accounting database. Switching to WAL
 * takes an exclusive lock and SQLite answers SQLITE_BUSY at once, without the
 * busy handler, when another process is opening the same fresh cache: so the
 * setup is retried for a while (only here, at open, before anything is served).
 */
function openAccounting(file: string): Database {
  const deadline = Date.now() + 10_000;
  for (let pause = 5; ; pause = Math.min(pause * 2, 200)) {
    let db: Database | undefined;
    try {
      db = new Database(file, { create: true });
      db.exec("PRAGMA busy_timeout = 10000");
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      for (const sql of SCHEMA) db.exec(sql);
      return db;
    } catch (err) {
      db?.close();
      if (!isBusy(err) || Date.now() > deadline) throw err;
      log.debug(`cache ${file}: busy (another process is setting it up); trying again`);
      Bun.sleepSync(pause);
    }
  }
}

export class ObjectCache {
  private readonly db: Database;
  private readonly pins = new Map<string, number>();   // in use by this process: never evicted by it
  private readonly touched = new Map<string, number>(); // LRU updates (key → size), written in batches
  private closed = false;
  private warnedFull = false;
  private readonly pending: [string, number, number, number][] = []; // rows of new entries, written in batches
  private used = 0;                                                  // bytes in the cache, as this process counts them
  private readonly madeDirs = new Set<string>();

  /** `limitBytes` null: no quota (CVMFS_QUOTA_LIMIT=-1). */
  constructor(readonly dir: string, readonly limitBytes: number | null) {
    try {
      mkdirSync(join(dir, "txn"), { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700); // private: entries are trusted once verified, so nobody else may write here
      this.db = openAccounting(join(dir, "cachedb"));
    } catch (err) {
      throw new CvmError(`cache ${dir}: cannot open it (${(err as Error).message})`);
    }
    this.clearAbandonedDownloads();
    this.used = this.usedBytes();
  }

  /** Downloads left in txn/ by a process that no longer runs (killed mid-write). */
  private clearAbandonedDownloads(): void {
    for (const name of readdirSync(join(this.dir, "txn"))) {
      const pid = Number(name.split(".")[0]);
      let alive = false;
      try { process.kill(pid, 0); alive = pid > 0; } catch (err) { alive = errnoCode(err) === "EPERM"; }
      if (!alive) rmSync(join(this.dir, "txn", name), { force: true });
    }
  }

  static key(hash: ContentHash): string { return toHex(hash); }

  pathOf(hash: ContentHash): string {
    const hex = toHex(hash);
    return join(this.dir, hex.slice(0, 2), hex.slice(2));
  }

  /** The file of a complete entry, or undefined. Marks it recently used. */
  lookup(hash: ContentHash): string | undefined {
    const file = this.pathOf(hash);
    // lstat: an entry is a regular file of the cache itself, never a link to something else.
    const st = lstatSync(file, { throwIfNoEntry: false });
    if (!st?.isFile()) return undefined;
    this.touch(ObjectCache.key(hash), st.size);
    return file;
  }

  /** A complete entry's bytes when it has exactly `size` bytes (anything else is dropped as damaged). */
  read(hash: ContentHash, size?: number): Uint8Array | undefined {
    const file = this.pathOf(hash);
    if (!lstatSync(file, { throwIfNoEntry: false })) return undefined; // a miss costs a stat, not an exception
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      return undefined;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || (size !== undefined && st.size !== size)) { this.drop(hash); return undefined; }
      const out = new Uint8Array(st.size);
      if (readFull(fd, out) !== out.length) { this.drop(hash); return undefined; }
      this.touch(ObjectCache.key(hash), out.length);
      return out;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Stores verified bytes: written under txn/, renamed into place. Makes room
   * first when the quota needs it; on ENOSPC evicts and tries once more.
   * Returns the entry's file, or undefined when it cannot be cached (bigger
   * than half the quota, as upstream).
   */
  async insert(hash: ContentHash, bytes: Uint8Array, kind: EntryKind): Promise<string | undefined> {
    if (this.limitBytes !== null && bytes.length > this.limitBytes / 2) return undefined;
    const key = ObjectCache.key(hash);
    const file = this.pathOf(hash);
    if (this.limitBytes !== null) this.makeRoom(bytes.length);
    try {
      await this.writeEntry(file, bytes);
    } catch (err) {
      if (errnoCode(err) !== "ENOSPC") throw new CvmError(`cache ${this.dir}: cannot store ${key} (${(err as Error).message})`);
      const freed = this.evict(Math.floor(this.usedBytes() / 2));
      try {
        await this.writeEntry(file, bytes);
      } catch (again) {
        if (errnoCode(again) !== "ENOSPC") throw new CvmError(`cache ${this.dir}: cannot store ${key} (${(again as Error).message})`);
        // The bytes are verified and in hand: the read succeeds, only caching is skipped (the stock client answers EIO here).
        this.noteFull(freed);
        return undefined;
      }
    }
    this.pending.push([key, bytes.length, this.nextSeq(), TYPE[kind]]);
    this.used += bytes.length;
    if (this.pending.length >= 256) this.flushPending();
    return file;
  }

  private noteFull(freed: number): void {
    if (!this.warnedFull) log.warn(`cache ${this.dir}: the device is full even after evicting ${(freed / 1048576).toFixed(1)} MB; reading on without caching (give the cache more room or a lower CVMFS_QUOTA_LIMIT)`);
    this.warnedFull = true;
  }

  /**
   * Written through the thread pool: creating files is most of the cost on
   * some disks, and this way the kernel does it while the main thread
   * downloads, hashes and inflates the next objects.
   */
  private async writeEntry(file: string, bytes: Uint8Array): Promise<void> {
    const tmp = join(this.dir, "txn", `${process.pid}.${randomBytes(6).toString("hex")}`);
    try {
      if (bytes.length <= WRITE_SLICE) await writeFile(tmp, bytes, { flag: "wx", mode: 0o600 });
      else {
        const out = await open(tmp, "wx", 0o600);
        try { await writeSliced(out, bytes, 0); } finally { await out.close(); }
      }
      const dir = dirname(file);
      if (!this.madeDirs.has(dir)) { await mkdir(dir, { recursive: true, mode: 0o700 }); this.madeDirs.add(dir); }
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /**
   * Stores the concatenation of complete entries (a chunked file's pieces) as
   * one entry, copied a piece at a time through a temp file and renamed into
   * place, like any other. Skipped when it would not fit the quota.
   */
  async assemble(hash: ContentHash, parts: string[], size: number): Promise<string | undefined> {
    if (this.limitBytes !== null && size > this.limitBytes / 2) return undefined;
    if (this.limitBytes !== null) this.makeRoom(size);
    const file = this.pathOf(hash);
    const tmp = join(this.dir, "txn", `${process.pid}.${randomBytes(6).toString("hex")}`);
    const out = await open(tmp, "wx", 0o600);
    try {
      let at = 0;
      for (const part of parts) {
        const bytes = await readFile(part);
        await writeSliced(out, bytes, at);
        at += bytes.length;
      }
      await out.close();
      const st = await stat(tmp);
      if (st.size !== size) throw new Error(`assembled ${st.size} bytes, expected ${size}`);
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      await rename(tmp, file);
    } catch (err) {
      await out.close().catch(() => {});
      await rm(tmp, { force: true });
      if (errnoCode(err) === "ENOSPC") { this.noteFull(0); return undefined; }
      throw err;
    }
    this.pending.push([ObjectCache.key(hash), size, this.nextSeq(), TYPE.regular]);
    this.used += size;
    return file;
  }

  pin(hash: ContentHash): void {
    const k = ObjectCache.key(hash);
    this.pins.set(k, (this.pins.get(k) ?? 0) + 1);
  }

  unpin(hash: ContentHash): void {
    const k = ObjectCache.key(hash);
    const n = (this.pins.get(k) ?? 0) - 1;
    if (n > 0) this.pins.set(k, n);
    else this.pins.delete(k);
  }

  private touch(key: string, size: number): void {
    this.touched.set(key, size);
    if (this.touched.size >= 512) this.flushTouches();
  }

  /** Writes the LRU order; an entry found on disk with no row (a kill between rename and insert) gets one. */
  private flushTouches(): void {
    this.flushPending(); // an entry's row exists before its LRU update
    if (this.touched.size === 0) return;
    const entries = [...this.touched];
    this.touched.clear();
    const upsert = this.db.prepare("INSERT INTO cache_catalog (sha1, size, acseq, type) VALUES (?, ?, ?, 0) ON CONFLICT(sha1) DO UPDATE SET acseq = excluded.acseq");
    try {
      this.db.transaction(() => { for (const [k, size] of entries) upsert.run(k, size, this.nextSeq()); })();
    } catch (err) {
      if (!/full/i.test((err as Error).message)) throw err; // a full disk only costs the LRU order
    }
  }

  private seq = 0;
  /** A sequence number for LRU order: time-based, so processes sharing the cache agree roughly. */
  private nextSeq(): number {
    this.seq = Math.max(this.seq + 1, Date.now() * 1000);
    return this.seq;
  }

  /** Usage as the database counts it (every process's entries). */
  private usedBytes(): number {
    this.flushPending();
    return Number((this.db.query("SELECT COALESCE(SUM(size), 0) AS s FROM cache_catalog").get() as { s: number }).s);
  }

  /**
   * New entries' rows, written in batches: one transaction for many objects.
   * A row that could not be written (SQLITE_FULL) takes its file with it, so
   * nothing escapes the quota.
   */
  private flushPending(): void {
    if (this.pending.length === 0) return;
    const rows = this.pending.splice(0);
    const insert = this.db.prepare("INSERT OR REPLACE INTO cache_catalog (sha1, size, acseq, type) VALUES (?, ?, ?, ?)");
    try {
      this.db.transaction(() => { for (const r of rows) insert.run(...r); })();
    } catch (err) {
      for (const [key] of rows) { try { unlinkSync(join(this.dir, key.slice(0, 2), key.slice(2))); } catch { /* already gone */ } }
      if (!/full/i.test((err as Error).message)) throw new CvmError(`cache ${this.dir}: ${(err as Error).message}`);
      this.noteFull(0);
    }
  }

  /**
   * Over the quota after adding `incoming` bytes: evict down to half the limit
   * (upstream's cleanup threshold). The running count is this process's view;
   * before evicting, the database's count (other processes' too) decides.
   */
  private makeRoom(incoming: number): void {
    const limit = this.limitBytes!;
    if (this.used + incoming <= limit) return;
    this.used = this.usedBytes();
    if (this.used + incoming <= limit) return;
    this.flushTouches();
    this.evict(Math.floor(limit / 2) - incoming);
  }

  /**
   * Least recently used unpinned entries go until usage is at most `target`
   * bytes; returns the bytes freed. One write transaction, so two processes
   * never count the same room twice.
   */
  evict(target: number): number {
    let freed = 0;
    this.db.transaction(() => {
      let used = this.usedBytes();
      const rows = this.db.query("SELECT sha1, size FROM cache_catalog ORDER BY type ASC, acseq ASC").all() as { sha1: string; size: number }[];
      const remove = this.db.prepare("DELETE FROM cache_catalog WHERE sha1 = ?");
      for (const r of rows) {
        if (used <= target) break;
        if (this.pins.has(r.sha1)) continue;
        try { unlinkSync(join(this.dir, r.sha1.slice(0, 2), r.sha1.slice(2))); } catch { /* already gone */ }
        remove.run(r.sha1);
        used -= r.size;
        freed += r.size;
      }
      this.used = used;
    }).immediate(); // it reads, then writes: take the write lock first (a deferred upgrade fails at once when another process wrote meanwhile)
    return freed;
  }

  private drop(hash: ContentHash): void {
    const key = ObjectCache.key(hash);
    try { unlinkSync(this.pathOf(hash)); } catch { /* already gone */ }
    this.db.run("DELETE FROM cache_catalog WHERE sha1 = ?", [key]);
  }

  usage(): CacheUsage {
    this.flushPending();
    this.flushTouches();
    const r = this.db.query("SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS s, COALESCE(SUM(type = 1), 0) AS c FROM cache_catalog").get() as { n: number; s: number; c: number };
    return { dir: this.dir, entries: Number(r.n), bytes: Number(r.s), catalogs: Number(r.c), pinned: this.pins.size, limitBytes: this.limitBytes };
  }

  /** Removes every entry (and leftovers of interrupted downloads), keeping the database. */
  clean(): number {
    let removed = 0;
    this.pending.length = 0;
    this.used = 0;
    this.db.transaction(() => {
      for (const name of readdirSync(this.dir)) {
        if (!/^[0-9a-f]{2}$/.test(name)) continue;
        for (const f of readdirSync(join(this.dir, name))) { rmSync(join(this.dir, name, f), { force: true }); removed++; }
      }
      this.db.run("DELETE FROM cache_catalog");
    })();
    for (const f of readdirSync(join(this.dir, "txn"))) rmSync(join(this.dir, "txn", f), { force: true });
    return removed;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try { this.flushPending(); } catch { /* best effort: entries without rows are counted when next read */ }
    try { this.flushTouches(); } catch { /* best effort: LRU order only */ }
    this.db.close();
  }
}
