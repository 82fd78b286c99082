import { closeSync, constants, fstatSync, openSync } from "node:fs";
import { FuseError, type Attr, type DirEntry, type Entry, type OpenResult, type ReadOnlyFilesystem, type Statfs } from "../../fuse/filesystem";
import { createHash } from "node:crypto";
import { toHex, type ContentHash } from "../format/hash";
import type { Dirent } from "../format/dirent";
import { RepositoryError } from "../errors";
import type { Piece, Repository } from "./repository";
import { expandSymlink } from "../format/symlink";
import { InodeTable, Revision, type Node } from "./inodes";
import { readFull } from "../../sys/read-full";

/** The cache key of a chunked file's assembled copy: a hash of its chunk list, which no stored object can have. */
function assembledKey(pieces: Piece[]): ContentHash {
  const h = createHash("sha1").update("cvm assembled file\n");
  for (const p of pieces) h.update(`${toHex(p.hash)} ${p.offset} ${p.size}\n`);
  return { algorithm: "sha1", digest: new Uint8Array(h.digest()) };
}

/** A descriptor of a cache file that has exactly `size` bytes; undefined when it was evicted or replaced meanwhile. */
function openSized(path: string, size: number): number | undefined {
  try {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    if (fstatSync(fd).size === size) return fd;
    closeSync(fd);
  } catch { /* evicted meanwhile */ }
  return undefined;
}

const ENOENT = 2, EIO = 5, ENOTDIR = 20, EISDIR = 21, EINVAL = 22, ENODATA = 61;

/** What the mount needs besides the repository: where revisions come from and what to show in xattrs. */
export interface MountContext {
  reopen: () => Promise<Repository>;        // fetch and verify the current manifest again
  host: () => string;                       // the stratum in use
  proxy: () => string;                      // the proxy in use, or DIRECT
  kernelCacheMs: number;                    // entry/attr timeouts (CVMFS_KCACHE_TIMEOUT)
  maxTtlMs?: number;                        // CVMFS_MAX_TTL, if set
  version: string;
  env?: Record<string, string | undefined>; // for $(VAR) symlinks
  log?: (message: string) => void;
  passthrough?: boolean;                    // offer cached files to the kernel for passthrough
}

/** A file open at a revision: it reads that revision's content even after a newer one is mounted (and holds it open). */
interface OpenFile {
  revision: Revision;
  repo: Repository;
  dirent: Dirent;
  pieces: Piece[];
  assembled?: ContentHash;           // a chunked file's key for its assembled copy
  fds: Map<number, number>;          // piece index → descriptor of its complete cache entry
  memory: Map<number, Uint8Array>;   // pieces that could not be cached, the last two kept
}

/** A directory listing being read: its revision (held until RELEASEDIR) and its entries by inode, for READDIRPLUS counting. */
interface Listing { revision?: Revision; entries: Map<number, Dirent>; }

/**
 * A mounted repository as a read-only filesystem: inode numbers per revision
 * (hardlinks shared) counted as the kernel holds them, content from the
 * verified cache (read with pread, or handed to the kernel for passthrough),
 * a new revision picked up after the catalog TTL without a remount, files
 * already open keeping the content they opened, older revisions closed once
 * nothing refers to them, and the stock client's magic extended attributes.
 */
export class RepositoryFs implements ReadOnlyFilesystem {
  private readonly table: InodeTable;
  /** Revisions still open: the current one and older ones the kernel or open files still use. */
  private readonly revisions = new Set<Revision>();
  private readonly files = new Map<number, OpenFile>();
  private readonly dirs = new Map<number, Listing>();
  /** Per inode (one path in one revision: it never changes), its pieces as the first open found them. */
  private readonly layouts = new WeakMap<Node, { pieces: Piece[]; assembled?: ContentHash }>();
  private nextFh = 1;
  private checkDue = 0;
  private checking?: Promise<boolean>;

  private constructor(repo: Repository, private readonly ctx: MountContext, root: Dirent) {
    this.table = new InodeTable(this.track(repo), root);
    this.scheduleCheck();
  }

  /** A revision, listed while it is open. */
  private track(repo: Repository): Revision {
    const r = new Revision(repo, (closed) => {
      this.revisions.delete(closed);
      this.ctx.log?.(`${repo.fqrn}: revision ${closed.number} closed: nothing refers to it any more`);
    });
    this.revisions.add(r);
    return r;
  }

  /** The current revision's repository. */
  private get repo(): Repository { return this.table.current.repo; }

  static async create(repo: Repository, ctx: MountContext): Promise<RepositoryFs> {
    return new RepositoryFs(repo, ctx, await repo.stat(""));
  }

  get revision(): number { return this.repo.manifest.revision; }
  get repository(): Repository { return this.repo; }

  /** The catalog TTL (root catalog's TTL property), capped by CVMFS_MAX_TTL. */
  private async ttlMs(): Promise<number> {
    const ttl = (await this.repo.root()).reader.ttl * 1000;
    return this.ctx.maxTtlMs ? Math.min(ttl, this.ctx.maxTtlMs) : ttl;
  }

  private scheduleCheck(): void {
    void this.ttlMs().then((ms) => { this.checkDue = Date.now() + ms; }, () => { this.checkDue = Date.now() + 180_000; });
  }

  /** After the TTL, look for a newer revision in the background (once at a time). */
  private maybeCheck(): void {
    if (this.checkDue && Date.now() >= this.checkDue && !this.checking) void this.remount();
  }

  /**
   * Fetches and verifies the manifest; a newer revision becomes the mounted
   * one. Returns whether the revision changed. On failure the short TTL of
   * the stock client (180 s) applies and the mount stays on what it has.
   */
  remount(): Promise<boolean> {
    this.checking ??= (async () => {
      try {
        const next = await this.ctx.reopen();
        if (next.manifest.revision <= this.repo.manifest.revision && toHex(next.manifest.rootHash) === toHex(this.repo.manifest.rootHash)) {
          next.close();
          this.scheduleCheck();
          return false;
        }
        let root: Dirent;
        try {
          root = await next.stat("");
        } catch (err) {
          next.release();
          throw err;
        }
        const old = this.table.current;
        this.ctx.log?.(`${next.fqrn}: revision ${old.number} → ${next.manifest.revision}`);
        this.table.switchTo(this.track(next), root);
        old.release(); // it stays open while inodes the kernel holds or open files still refer to it
        // Once a revision: a full collection, so the garbage of closed revisions (catalog
        // statements and buffers) is freed now rather than whenever the heap grows enough.
        Bun.gc(true);
        this.scheduleCheck();
        return true;
      } catch (err) {
        this.ctx.log?.(`revision check failed: ${(err as Error).message}`);
        this.checkDue = Date.now() + 180_000;
        return false;
      } finally {
        this.checking = undefined;
      }
    })();
    return this.checking;
  }

  private node(ino: number): Node {
    const n = this.table.get(ino);
    if (!n) throw new FuseError(ENOENT);
    return n;
  }

  /**
   * Runs `f` in the current revision, held meanwhile; when a newer revision
   * became current during it, once more in that one, so inode numbers are
   * only ever handed out in the current revision.
   */
  private async inCurrent<T>(f: (r: Revision) => Promise<T>): Promise<{ result: T; revision: Revision }> {
    for (;;) {
      const revision = this.table.current;
      const result = await revision.within(() => f(revision));
      if (revision === this.table.current) return { result, revision };
    }
  }

  /** Every revision still open, for the talk socket: its number, whether current, inodes the kernel holds, open files, catalogs. */
  openRevisions(): { revision: number; current: boolean; inodes: number; files: number; catalogs: { path: string; hash: string }[] }[] {
    const held = this.table.held();
    const files = new Map<Revision, number>();
    for (const f of this.files.values()) files.set(f.revision, (files.get(f.revision) ?? 0) + 1);
    return [...this.revisions].sort((a, b) => a.number - b.number).map((r) => ({
      revision: r.number, current: r === this.table.current, inodes: (held.get(r.number) ?? 0) + (r === this.table.current ? 1 : 0),
      files: files.get(r) ?? 0, catalogs: r.repo.openCatalogs.map((a) => ({ path: a.mountpoint || "/", hash: toHex(a.hash) })),
    }));
  }

  /** Inodes the kernel holds (the root included). */
  get inodes(): number { return this.table.size; }

  /** Closes every revision (the mount has ended). */
  close(): void {
    for (const f of this.files.values()) for (const fd of f.fds.values()) closeSync(fd);
    this.files.clear();
    for (const r of [...this.revisions]) r.repo.release();
    this.revisions.clear();
  }

  private attrOf(ino: number, d: Dirent): Attr {
    return {
      ino, mode: d.mode, nlink: d.kind === "dir" ? 2 : Math.max(1, d.linkcount), uid: d.uid, gid: d.gid,
      size: d.kind === "symlink" ? Buffer.byteLength(expandSymlink(d.symlink ?? "", this.ctx.env)) : d.size,
      mtime: d.mtime, mtimeNs: d.mtimeNs,
    };
  }

  /** Repository errors (a corrupt or unreachable object) are I/O errors to the kernel; the log says which. */
  private async guard<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      if (err instanceof FuseError) throw err;
      this.ctx.log?.(`${what}: ${(err as Error).message}`);
      throw new FuseError(EIO);
    }
  }

  async lookup(parent: number, name: string): Promise<Entry> {
    this.maybeCheck();
    const p = this.node(parent);
    if (p.dirent.kind !== "dir") throw new FuseError(ENOTDIR);
    const path = `${p.path}/${name}`;
    // Every lookup goes to the current revision (under a directory of an older one too): new lookups see the new tree.
    const { result: d, revision } = await this.inCurrent((r) => this.guard(path, async () => {
      try {
        return await r.repo.stat(path);
      } catch (err) {
        if (err instanceof RepositoryError && /no such file or directory/.test(err.message)) throw new FuseError(ENOENT);
        throw err;
      }
    }));
    const ino = this.table.number(d);
    this.table.count(ino, d, revision); // the session takes it back if the kernel never gets this answer
    return { attr: this.attrOf(ino, d), entryTtlMs: this.ctx.kernelCacheMs, attrTtlMs: this.ctx.kernelCacheMs };
  }

  async getattr(ino: number): Promise<{ attr: Attr; attrTtlMs: number }> {
    this.maybeCheck();
    const n = this.node(ino);
    return { attr: this.attrOf(ino, n.dirent), attrTtlMs: this.ctx.kernelCacheMs };
  }

  async readlink(ino: number): Promise<string> {
    const d = this.node(ino).dirent;
    if (d.kind !== "symlink") throw new FuseError(EINVAL);
    return expandSymlink(d.symlink ?? "", this.ctx.env);
  }

  forget(ino: number, nlookup: number): void {
    this.table.forget(ino, nlookup);
  }

  async open(ino: number): Promise<OpenResult> {
    const n = this.node(ino);
    const d = n.dirent;
    if (d.kind === "dir") throw new FuseError(EISDIR);
    if (d.kind !== "file") throw new FuseError(EINVAL);
    // The inode's own revision: its content, even when a newer one is current. The open file holds it until RELEASE.
    const revision = n.revision;
    const repo = revision.repo;
    revision.hold();
    let layout = this.layouts.get(n);
    if (!layout) {
      try {
        const pieces = await this.guard(n.path, () => repo.pieces(d));
        layout = { pieces, assembled: d.chunked ? assembledKey(pieces) : undefined };
      } catch (err) {
        revision.release();
        throw err;
      }
      this.layouts.set(n, layout);
    }
    const { pieces, assembled } = layout;
    const file: OpenFile = { revision, repo, dirent: d, pieces, assembled, fds: new Map(), memory: new Map() };
    const fh = this.nextFh++;
    this.files.set(fh, file);
    // A whole (unchunked) file is fetched at open, as the stock client does; once cached it can be passed through.
    if (pieces.length === 1 && !d.chunked) {
      await this.guard(n.path, () => this.load(file, 0));
      const path = this.ctx.passthrough && file.fds.has(0) ? repo.cache?.lookup(pieces[0].hash) : undefined;
      if (path) return { fh, keepCache: true, directIo: d.directIo, passthroughFd: openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW) };
    }
    // A chunked file read whole before has an assembled copy in the cache: the kernel reads that directly.
    const whole = this.ctx.passthrough && assembled ? repo.cache?.lookup(assembled) : undefined;
    const wholeFd = whole ? openSized(whole, d.size) : undefined; // else (evicted meanwhile) read piece by piece
    if (wholeFd !== undefined) return { fh, keepCache: true, directIo: d.directIo, passthroughFd: wholeFd };
    return { fh, keepCache: true, directIo: d.directIo };
  }

  /** Makes piece `i` readable: a descriptor of its cache entry, or its bytes in memory when it could not be cached. */
  private async load(file: OpenFile, i: number): Promise<void> {
    if (file.fds.has(i) || file.memory.has(i)) return;
    const p = file.pieces[i];
    // Already cached: only a descriptor, no bytes through memory. Else fetch (which caches), then open.
    if (this.openCached(file, i)) return;
    const data = await file.repo.piece(file.dirent, p);
    if (this.openCached(file, i)) return;
    if (file.memory.size >= 2) file.memory.delete(file.memory.keys().next().value!);
    file.memory.set(i, data);
  }

  private openCached(file: OpenFile, i: number): boolean {
    const p = file.pieces[i];
    const path = file.repo.cache?.lookup(p.hash);
    const fd = path ? openSized(path, p.size) : undefined;
    if (fd === undefined) return false;
    file.fds.set(i, fd);
    return true;
  }

  async read(_ino: number, fh: number, offset: number, size: number): Promise<Uint8Array> {
    const file = this.files.get(fh);
    if (!file) throw new FuseError(EINVAL);
    const end = Math.min(file.dirent.size, offset + size);
    if (offset >= end) return new Uint8Array(0);
    const out = new Uint8Array(end - offset);
    for (let i = 0; i < file.pieces.length; i++) {
      const p = file.pieces[i];
      const from = Math.max(offset, p.offset), to = Math.min(end, p.offset + p.size);
      if (from >= to) continue;
      await this.guard(file.dirent.path, () => this.load(file, i));
      const fd = file.fds.get(i);
      if (fd !== undefined) {
        if (readFull(fd, out.subarray(from - offset, to - offset), from - p.offset) < to - from) throw new FuseError(EIO);
      } else {
        out.set(file.memory.get(i)!.subarray(from - p.offset, to - p.offset), from - offset);
      }
    }
    return out;
  }

  async release(_ino: number, fh: number): Promise<void> {
    const file = this.files.get(fh);
    if (!file) return;
    this.files.delete(fh);
    // Every piece of a chunked file is in the cache: assemble the whole file there (in the background),
    // so the next open can hand it to the kernel for passthrough.
    const cache = file.repo.cache;
    const complete = file.dirent.chunked && file.fds.size === file.pieces.length && file.pieces.length > 1;
    if (this.ctx.passthrough && complete && cache && file.assembled && !cache.lookup(file.assembled)) {
      const parts = file.pieces.map((p) => cache.lookup(p.hash)).filter((x): x is string => !!x);
      if (parts.length === file.pieces.length)
        void cache.assemble(file.assembled, parts, file.dirent.size).catch((err) => this.ctx.log?.(`${file.dirent.path}: not assembled: ${(err as Error).message}`));
    }
    for (const fd of file.fds.values()) closeSync(fd);
    file.fds.clear();
    file.revision.release();
  }

  async opendir(ino: number): Promise<{ fh?: number }> {
    if (this.node(ino).dirent.kind !== "dir") throw new FuseError(ENOTDIR);
    const fh = this.nextFh++;
    this.dirs.set(fh, { entries: new Map() });
    return { fh };
  }

  /** The directory's entries in the current revision (an older revision's directory too, by its path). */
  async readdir(ino: number, fh: number): Promise<DirEntry[]> {
    const n = this.node(ino);
    const listing = this.dirs.get(fh);
    if (!listing) throw new FuseError(EINVAL);
    const { result: children, revision } = await this.inCurrent((r) => this.guard(n.path || "/", () => r.repo.list(n.path)));
    // Held until RELEASEDIR: READDIRPLUS entries are counted (remember) while the listing is read.
    if (!listing.revision) { revision.hold(); listing.revision = revision; }
    return children.map((d) => {
      const child = this.table.number(d);
      if (listing.revision === revision) listing.entries.set(child, d);
      return { name: d.name, attr: this.attrOf(child, d), entryTtlMs: this.ctx.kernelCacheMs, attrTtlMs: this.ctx.kernelCacheMs };
    });
  }

  remember(dirFh: number, ino: number): void {
    const listing = this.dirs.get(dirFh);
    const d = listing?.entries.get(ino);
    if (listing?.revision && d) this.table.count(ino, d, listing.revision);
  }

  async releasedir(_ino: number, fh: number): Promise<void> {
    const listing = this.dirs.get(fh);
    this.dirs.delete(fh);
    listing?.revision?.release();
  }

  async statfs(): Promise<Statfs> {
    const u = this.repo.cache?.usage();
    const bsize = 4096;
    const limit = u?.limitBytes ?? u?.bytes ?? 0;
    const blocks = Math.ceil(limit / bsize);
    const used = Math.ceil((u?.bytes ?? 0) / bsize);
    return { blocks, bfree: Math.max(0, blocks - used), bavail: Math.max(0, blocks - used), files: this.table.size, ffree: 0, bsize, namelen: 255, frsize: bsize };
  }

  /** The stock client's magic attributes (spec §8), then the ones published with the entry. */
  private magic(n: Node): Record<string, () => string | undefined> {
    const d = n.dirent;
    const m = this.repo.manifest;
    return {
      "user.fqrn": () => this.repo.fqrn,
      "user.revision": () => String(m.revision),
      "user.root_hash": () => toHex(m.rootHash),
      "user.host": () => this.ctx.host(),
      "user.proxy": () => this.ctx.proxy(),
      "user.nclg": () => String(this.repo.loadedCatalogs),
      "user.pid": () => String(process.pid),
      "user.version": () => this.ctx.version,
      "user.expires": () => String(Math.max(0, Math.round((this.checkDue - Date.now()) / 60_000))),
      "user.timeout": () => "",
      "user.hash": () => (d.kind === "file" && d.hash ? toHex(d.hash) : undefined),
      "user.chunks": () => (d.kind === "file" ? String(d.chunked ? "chunked" : 1) : undefined),
      "user.compression": () => (d.kind === "file" ? (d.compressed ? "zlib" : "none") : undefined),
      "user.rawlink": () => (d.kind === "symlink" ? d.symlink ?? "" : undefined),
    };
  }

  async getxattr(ino: number, name: string): Promise<Uint8Array> {
    const n = this.node(ino);
    const published = n.dirent.xattrs?.get(name);
    if (published) return published;
    const get = this.magic(n)[name];
    let value = get?.();
    if (name === "user.chunks" && value === "chunked") value = String((await n.revision.within(() => n.revision.repo.chunks(n.dirent))).length);
    if (name === "user.timeout") throw new FuseError(ENODATA);
    if (value === undefined) throw new FuseError(ENODATA);
    return new TextEncoder().encode(value);
  }

  /** Published xattrs everywhere; the magic ones listed on the root only (upstream's default visibility). */
  async listxattr(ino: number): Promise<string[]> {
    const n = this.node(ino);
    const names = [...(n.dirent.xattrs?.keys() ?? [])];
    if (ino === 1) names.push(...Object.entries(this.magic(n)).filter(([k, f]) => k !== "user.timeout" && f() !== undefined).map(([k]) => k));
    return names;
  }
}
