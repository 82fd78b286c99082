import { closeSync, constants, fstatSync, openSync } from "node:fs";
import { FuseError, type Attr, type DirEntry, type Entry, type OpenResult, type ReadOnlyFilesystem, type Statfs } from "../../fuse/filesystem";
import { createHash } from "node:crypto";
import { toHex, type ContentHash } from "../format/hash";
import type { Dirent } from "../format/dirent";
import { RepositoryError } from "../errors";
import type { Piece, Repository } from "./repository";
import { expandSymlink } from "../format/symlink";
import { InodeTable, type Node } from "./inodes";
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

/** A file open at a revision: it reads that revision's content even after a newer one is mounted. */
interface OpenFile {
  repo: Repository;
  dirent: Dirent;
  pieces: Piece[];
  assembled?: ContentHash;           // a chunked file's key for its assembled copy
  fds: Map<number, number>;          // piece index → descriptor of its complete cache entry
  memory: Map<number, Uint8Array>;   // pieces that could not be cached, the last two kept
}

/**
 * A mounted repository as a read-only filesystem: inode numbers per revision
 * (hardlinks shared), content from the verified cache (read with pread, or
 * handed to the kernel for passthrough), a new revision picked up after the
 * catalog TTL without a remount, files already open keeping the content they
 * opened, and the stock client's magic extended attributes.
 */
export class RepositoryFs implements ReadOnlyFilesystem {
  private repo: Repository;
  private table: InodeTable;
  private readonly tables: InodeTable[] = [];   // older revisions' inodes, for what the kernel still holds
  private readonly files = new Map<number, OpenFile>();
  /** Per inode (one path in one revision: it never changes), its pieces as the first open found them. */
  private readonly layouts = new WeakMap<Node, { pieces: Piece[]; assembled?: ContentHash }>();
  private nextFh = 1;
  private checkDue = 0;
  private checking?: Promise<boolean>;

  private constructor(repo: Repository, private readonly ctx: MountContext, root: Dirent) {
    this.repo = repo;
    this.table = new InodeTable(1, 2, root);
    this.scheduleCheck();
  }

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
        const root = await next.stat("");
        this.tables.push(this.table);
        this.table = new InodeTable(this.table.generation + 1, this.table.last + 1, root);
        this.ctx.log?.(`${next.fqrn}: revision ${this.repo.manifest.revision} → ${next.manifest.revision}`);
        this.repo = next; // the old revision stays open for files still reading it
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
    const n = this.table.get(ino) ?? this.tables.findLast((t) => t.get(ino))?.get(ino);
    if (!n) throw new FuseError(ENOENT);
    return n;
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
    // Inodes of an older revision still resolve their children in it; new lookups go to the current one.
    const table = this.table.get(parent) ? this.table : this.tables.findLast((t) => t.get(parent))!;
    const repo = this.repo;
    const d = await this.guard(path, async () => {
      try {
        return await repo.stat(path);
      } catch (err) {
        if (err instanceof RepositoryError && /no such file or directory/.test(err.message)) throw new FuseError(ENOENT);
        throw err;
      }
    });
    const ino = table.inodeFor(d);
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

  async open(ino: number): Promise<OpenResult> {
    const n = this.node(ino);
    const d = n.dirent;
    if (d.kind === "dir") throw new FuseError(EISDIR);
    if (d.kind !== "file") throw new FuseError(EINVAL);
    const repo = this.repo;
    let layout = this.layouts.get(n);
    if (!layout) {
      const pieces = await this.guard(n.path, () => repo.pieces(d));
      layout = { pieces, assembled: d.chunked ? assembledKey(pieces) : undefined };
      this.layouts.set(n, layout);
    }
    const { pieces, assembled } = layout;
    const file: OpenFile = { repo, dirent: d, pieces, assembled, fds: new Map(), memory: new Map() };
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
  }

  async opendir(ino: number): Promise<{ fh?: number }> {
    if (this.node(ino).dirent.kind !== "dir") throw new FuseError(ENOTDIR);
    return {};
  }

  async readdir(ino: number): Promise<DirEntry[]> {
    const n = this.node(ino);
    const table = this.table.get(ino) ? this.table : this.tables.findLast((t) => t.get(ino))!;
    const children = await this.guard(n.path || "/", () => this.repo.list(n.path));
    return children.map((d) => {
      const child = table.inodeFor(d);
      return { name: d.name, attr: this.attrOf(child, d), entryTtlMs: this.ctx.kernelCacheMs, attrTtlMs: this.ctx.kernelCacheMs };
    });
  }

  async releasedir(): Promise<void> {}

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
    if (name === "user.chunks" && value === "chunked") value = String((await this.repo.chunks(n.dirent)).length);
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
