/**
 * One FUSE session: decodes each kernel request, asks the filesystem and
 * encodes the answer. Requests run concurrently (a slow read never holds up
 * another request); the device is abstracted so tests can drive the session
 * with synthetic requests.
 */
import { readFileSync } from "node:fs";
import * as abi from "./abi";
import { Errno, Fopen, Init, Op } from "./abi";
import { FuseError, type DirEntry, type ReadOnlyFilesystem } from "./filesystem";

/** Where replies go and how backing files are registered (the /dev/fuse descriptor, or a test double). */
export interface Device {
  /** Writes one reply: the header then the body, in one write (the body is not copied). */
  send(header: Uint8Array, body?: Uint8Array): void;
  /** FUSE_DEV_IOC_BACKING_OPEN: returns the backing id; throws an error with a `code` (EPERM, …) when refused. */
  backingOpen(fd: number): number;
  backingClose(id: number): void;
  closeFd(fd: number): void;
}

export interface SessionOptions {
  /** Use FUSE passthrough for files opened with a passthroughFd, when the kernel offers it (default true). */
  passthrough?: boolean;
  /** Lower the kernel's readahead (bytes); default: what the kernel offers. */
  maxReadahead?: number;
  /** Requests the kernel may have in the background (readahead) at once (default 64). */
  maxBackground?: number;
  /** Let the kernel cache directory listings (FOPEN_CACHE_DIR, kept across opens until the directory's mtime changes); default true. */
  cacheDirectories?: boolean;
  /** A lookup answered ENOENT is remembered by the kernel this long (ms); default 0: not at all. */
  negativeTtlMs?: number;
  /** Errors worth a line (a filesystem method threw something other than FuseError, a reply refused). */
  log?: (line: string) => void;
  /** Verbose lines: what was negotiated, passthrough falling back. */
  verbose?: (line: string) => void;
}

/** The largest request we accept: WRITE bodies (refused anyway) are capped at MAX_WRITE. */
export const MAX_WRITE = 64 * 1024;
export const REQUEST_BUFFER_SIZE = MAX_WRITE + 4096;
const MAX_PAGES = 256;   // READs of up to 1 MiB

interface OpenFile { ino: number; fh: number; passthrough: boolean; }
interface OpenDir { ino: number; fh: number; entries?: Promise<abi.PackEntry[]>; }
interface Backing { id: number; opens: number; }

const O_ACCMODE = 3;

function hasCapSysAdmin(): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync("/proc/self/status", "utf8"));
    return m !== null && (BigInt(`0x${m[1]}`) & (1n << 21n)) !== 0n;
  } catch {
    return false;
  }
}

export class Session {
  /** Negotiated protocol minor (0 until INIT). */
  minor = 0;
  /** Passthrough was negotiated and the kernel has not refused it since. */
  passthrough = false;
  /** Why passthrough is off, once known (not offered, no CAP_SYS_ADMIN, refused by the kernel, disabled). */
  passthroughOff: string | null = null;
  /** Requests seen, by operation name. */
  readonly requests: Record<string, number> = {};
  readonly initialized: Promise<void>;
  private resolveInit!: () => void;
  private rejectInit!: (e: Error) => void;
  private destroyed = false;
  private readonly inflight = new Map<bigint, { answered: boolean }>();
  private readonly files = new Map<number, OpenFile>();
  private readonly dirs = new Map<number, OpenDir>();
  private nextHandle = 1;
  /** Per inode: the backing file shared by its passthrough opens (the kernel allows one per inode). */
  private readonly backing = new Map<number, Backing>();
  /** Per inode: opens going through READ (an inode cannot mix these with passthrough opens). */
  private readonly cachedOpens = new Map<number, number>();
  private readonly refusals = new Set<string>();

  constructor(private readonly fs: ReadOnlyFilesystem, private readonly device: Device, private readonly opts: SessionOptions = {}) {
    this.initialized = new Promise((res, rej) => { this.resolveInit = res; this.rejectInit = rej; });
    this.initialized.catch(() => {});
  }

  /** Handles one request (its exact bytes as read from the device). */
  handle(request: Uint8Array): void {
    const view = new DataView(request.buffer, request.byteOffset, request.byteLength);
    let h: abi.InHeader;
    try {
      h = abi.decodeInHeader(view);
    } catch (e) {
      this.opts.log?.(`fuse: ${(e as Error).message}`);
      return;
    }
    const name = abi.opName(h.opcode);
    this.requests[name] = (this.requests[name] ?? 0) + 1;
    const body = new DataView(request.buffer, request.byteOffset + abi.IN_HEADER_SIZE, Math.max(0, Math.min(h.len, request.byteLength) - abi.IN_HEADER_SIZE));
    const bytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);

    try {
      this.dispatch(h, name, body, bytes);
    } catch (e) {
      // A request shorter than its operation's structure: the kernel never sends one, but it must not crash the daemon.
      this.opts.log?.(`fuse: malformed ${name} request: ${(e as Error).message}`);
      if (h.opcode !== Op.FORGET && h.opcode !== Op.BATCH_FORGET && h.opcode !== Op.INTERRUPT) this.reply(h.unique, Errno.EIO);
    }
  }

  private dispatch(h: abi.InHeader, name: string, body: DataView, bytes: Uint8Array): void {
    switch (h.opcode) {
      case Op.INIT: return this.init(h, body);
      case Op.FORGET: return this.forget(h.nodeid, Number(body.getBigUint64(0, true)));
      case Op.BATCH_FORGET: {
        const count = body.getUint32(0, true);
        for (let i = 0, off = 8; i < count && off + 16 <= body.byteLength; i++, off += 16) {
          this.forget(Number(body.getBigUint64(off, true)), Number(body.getBigUint64(off + 8, true)));
        }
        return;
      }
      case Op.INTERRUPT: return this.interrupt(body.getBigUint64(0, true));
    }
    if (this.minor === 0) return this.reply(h.unique, Errno.EIO);   // nothing before INIT
    if (this.destroyed) return this.reply(h.unique, Errno.ENODEV);
    if (abi.WRITE_OPS.has(h.opcode)) return this.reply(h.unique, Errno.EROFS);

    const run = (work: () => Promise<Uint8Array | undefined>) => this.run(h, name, work);
    switch (h.opcode) {
      // A LOOKUP answer the kernel never got is no lookup: the filesystem's count is taken back.
      case Op.LOOKUP: return this.run(h, name, () => this.lookup(h.nodeid, abi.cString(bytes)), (body) => this.forgetUndelivered(body));
      case Op.GETATTR: return run(async () => {
        const r = await this.fs.getattr(h.nodeid);
        return abi.encodeAttrOut(r.attr, r.attrTtlMs);
      });
      case Op.READLINK: return run(async () => new TextEncoder().encode(await this.fs.readlink(h.nodeid)));
      case Op.OPEN: return run(() => this.open(h.nodeid, body.getUint32(0, true)));
      case Op.READ: return run(() => this.read(h.nodeid, abi.decodeReadIn(body)));
      case Op.RELEASE: return run(() => this.release(Number(body.getBigUint64(0, true))));
      case Op.OPENDIR: return run(() => this.opendir(h.nodeid));
      case Op.READDIR: return run(() => this.readdir(abi.decodeReadIn(body), false));
      case Op.READDIRPLUS: {
        const r = abi.decodeReadIn(body);
        let sent: abi.PackEntry[] = [];
        return this.run(h, name, async () => {
          const page = await this.readdirPage(r, true);
          sent = page.sent;
          return page.bytes;
        }, undefined, () => this.rememberSent(r.fh, sent));
      }
      case Op.RELEASEDIR: return run(() => this.releasedir(Number(body.getBigUint64(0, true))));
      case Op.STATFS: return run(async () => abi.encodeStatfsOut(await this.fs.statfs()));
      case Op.GETXATTR: return run(() => this.getxattr(h.nodeid, body.getUint32(0, true), abi.cString(bytes, 8)));
      case Op.LISTXATTR: return run(() => this.listxattr(h.nodeid, body.getUint32(0, true)));
      case Op.ACCESS:
        // Read-only: writing is refused; reading is the kernel's business (default_permissions) or allowed, as the stock client does.
        return this.reply(h.unique, body.getUint32(0, true) & abi.W_OK ? Errno.EROFS : 0);
      case Op.FLUSH:
        // Nothing is ever dirty. ENOSYS (not 0) makes the kernel stop sending FLUSH, which it
        // otherwise does on every close, waiting for the answer: a round trip per close saved.
        return this.reply(h.unique, Errno.ENOSYS);
      case Op.FSYNC: case Op.FSYNCDIR: case Op.SYNCFS:
        return this.reply(h.unique, 0);   // nothing is ever dirty
      case Op.DESTROY:
        this.destroyed = true;
        this.reply(h.unique, 0);
        this.fs.destroy?.();
        return;
      default:
        return this.reply(h.unique, Errno.ENOSYS);
    }
  }

  /** The connection ended: release what the kernel will no longer release. */
  end(reason = "the connection ended before INIT"): void {
    this.backing.clear();   // the kernel dropped every backing file with the connection
    if (!this.destroyed) {
      this.destroyed = true;
      this.fs.destroy?.();
    }
    this.rejectInit(new Error(reason));
  }

  /**
   * Runs `work` and answers with its result. `undelivered` sees a result the
   * kernel never got (interrupted meanwhile, or the reply refused);
   * `delivered` runs right after a successful reply, in the same turn, so no
   * FORGET the kernel sends in answer can be handled before it.
   */
  private run(h: abi.InHeader, name: string, work: () => Promise<Uint8Array | undefined>,
    undelivered?: (body: Uint8Array | undefined) => void, delivered?: () => void): void {
    const state = { answered: false };
    this.inflight.set(h.unique, state);
    // async: a synchronous throw (a short request body) becomes a rejection like any other.
    (async () => work())().then(
      (body) => {
        if (this.finish(h.unique, state, 0, body)) delivered?.();
        else undelivered?.(body);
      },
      (e) => {
        if (e instanceof FuseError) return this.finish(h.unique, state, e.errno);
        this.opts.log?.(`fuse: ${name} of inode ${h.nodeid}: ${e instanceof Error ? e.message : String(e)}`);
        this.finish(h.unique, state, Errno.EIO);
      },
    );
  }

  /** Answers once; whether this answer reached the kernel. */
  private finish(unique: bigint, state: { answered: boolean }, error: number, body?: Uint8Array): boolean {
    this.inflight.delete(unique);
    if (state.answered) return false;   // interrupted: the kernel has its answer
    state.answered = true;
    return this.deliver(unique, error, error ? undefined : body);
  }

  private reply(unique: bigint, error: number, body?: Uint8Array): void {
    this.deliver(unique, error, body);
  }

  /** Writes an answer; whether the kernel took it. */
  private deliver(unique: bigint, error: number, body?: Uint8Array): boolean {
    try {
      this.device.send(abi.encodeOutHeader(unique, error, body?.length ?? 0), body);
      return true;
    } catch (e) {
      const code = String((e as { code?: unknown }).code ?? "");
      // ENOENT: the request was interrupted or aborted meanwhile; ENODEV: the connection is gone.
      if (code !== "ENOENT" && code !== "ENODEV") this.opts.log?.(`fuse: reply refused: ${(e as Error).message}`);
      return false;
    }
  }

  /** A LOOKUP answer that never reached the kernel: the lookup the filesystem counted is taken back. */
  private forgetUndelivered(body: Uint8Array | undefined): void {
    if (!body || body.length < 8) return;
    const ino = Number(new DataView(body.buffer, body.byteOffset, 8).getBigUint64(0, true));
    if (ino !== 0) this.forget(ino, 1);   // 0: a negative entry, nothing counted
  }

  /** The entries of a delivered READDIRPLUS answer: each is a lookup the kernel now holds ("." and ".." carry none). */
  private rememberSent(handle: number, sent: abi.PackEntry[]): void {
    const d = this.dirs.get(handle);
    if (!d || !this.fs.remember) return;
    for (const e of sent) {
      if (!e.attr) continue;
      try {
        this.fs.remember(d.fh, e.ino);
      } catch (err) {
        this.opts.log?.(`fuse: counting inode ${e.ino}: ${(err as Error).message}`);
      }
    }
  }

  private init(h: abi.InHeader, body: DataView): void {
    const k = abi.decodeInitIn(body);
    if (k.major !== abi.KERNEL_MAJOR || k.minor < abi.MIN_KERNEL_MINOR) {
      // A newer major is answered with ours (the kernel then offers it again); an older one cannot work.
      if (k.major > abi.KERNEL_MAJOR) {
        this.reply(h.unique, 0, abi.encodeInitOut({ major: abi.KERNEL_MAJOR, minor: abi.KERNEL_MINOR, maxReadahead: 0, flags: 0n, maxBackground: 0, congestionThreshold: 0, maxWrite: 0, timeGran: 0, maxPages: 0, maxStackDepth: 0 }));
        return;
      }
      this.reply(h.unique, Errno.EPROTO);
      this.rejectInit(new Error(`kernel FUSE protocol ${k.major}.${k.minor} is older than the ${abi.KERNEL_MAJOR}.${abi.MIN_KERNEL_MINOR} this needs`));
      return;
    }
    let want = Init.ASYNC_READ | Init.PARALLEL_DIROPS | Init.DO_READDIRPLUS | Init.READDIRPLUS_AUTO | Init.CACHE_SYMLINKS | Init.MAX_PAGES | Init.INIT_EXT;
    if (this.opts.passthrough === false) this.passthroughOff = "disabled";
    else if (!(k.flags & Init.PASSTHROUGH)) this.passthroughOff = "the kernel does not offer it (needs Linux 6.9 with CONFIG_FUSE_PASSTHROUGH)";
    else if (!hasCapSysAdmin()) this.passthroughOff = "it needs CAP_SYS_ADMIN (mount as root)";
    else want |= Init.PASSTHROUGH;
    const flags = want & k.flags;
    this.minor = Math.min(k.minor, abi.KERNEL_MINOR);
    this.passthrough = (flags & Init.PASSTHROUGH) !== 0n;
    const maxBackground = Math.min(Math.max(this.opts.maxBackground ?? 64, 1), 0xffff);
    this.reply(h.unique, 0, abi.encodeInitOut({
      major: abi.KERNEL_MAJOR,
      minor: this.minor,
      maxReadahead: Math.min(k.maxReadahead, this.opts.maxReadahead ?? k.maxReadahead),
      flags,
      maxBackground,
      congestionThreshold: Math.max(1, Math.floor((maxBackground * 3) / 4)),
      maxWrite: MAX_WRITE,
      timeGran: 1,
      maxPages: MAX_PAGES,
      // Backing files on a plain filesystem; the FUSE mount may itself sit under one overlay.
      maxStackDepth: this.passthrough ? 1 : 0,
    }));
    this.opts.verbose?.(`fuse: protocol ${abi.KERNEL_MAJOR}.${this.minor} (kernel offers ${k.major}.${k.minor}), passthrough ${this.passthrough ? "on" : `off: ${this.passthroughOff}`}`);
    this.resolveInit();
  }

  private forget(ino: number, nlookup: number): void {
    try {
      this.fs.forget?.(ino, nlookup);
    } catch (e) {
      this.opts.log?.(`fuse: FORGET of inode ${ino}: ${(e as Error).message}`);
    }
  }

  /** Best effort: a request still running is answered EINTR now; its late answer is dropped. */
  private interrupt(unique: bigint): void {
    const state = this.inflight.get(unique);
    if (!state || state.answered) return;
    state.answered = true;
    this.inflight.delete(unique);
    this.reply(unique, Errno.EINTR);
  }

  private async lookup(parent: number, name: string): Promise<Uint8Array> {
    try {
      const e = await this.fs.lookup(parent, name);
      return abi.encodeEntryOut(e.attr, e.entryTtlMs, e.attrTtlMs);
    } catch (err) {
      const ttl = this.opts.negativeTtlMs ?? 0;
      if (ttl > 0 && err instanceof FuseError && err.errno === Errno.ENOENT) {
        // nodeid 0 with an entry timeout: a negative dentry the kernel keeps.
        const b = new Uint8Array(abi.ENTRY_OUT_SIZE);
        abi.putEntryOut(new DataView(b.buffer), 0, 0, null, ttl, 0);
        return b;
      }
      throw err;
    }
  }

  private async open(ino: number, flags: number): Promise<Uint8Array> {
    if ((flags & O_ACCMODE) !== 0) throw new FuseError(Errno.EROFS);
    const r = await this.fs.open(ino, flags);
    const handle = this.nextHandle++;
    let openFlags = (r.keepCache ? Fopen.KEEP_CACHE : 0) | (r.directIo ? Fopen.DIRECT_IO : 0);
    const backingId = this.passthroughFor(ino, r.passthroughFd);
    if (backingId > 0) openFlags = Fopen.PASSTHROUGH;   // the kernel refuses KEEP_CACHE (and DIRECT_IO means "not for reads") with it
    else this.cachedOpens.set(ino, (this.cachedOpens.get(ino) ?? 0) + 1);
    this.files.set(handle, { ino, fh: r.fh ?? 0, passthrough: backingId > 0 });
    return abi.encodeOpenOut(handle, openFlags, backingId);
  }

  /**
   * The backing id this open of `ino` uses, or 0 for the READ path. The kernel
   * allows one backing file per inode and no mixing with cached opens, so an
   * inode already in passthrough shares its backing, and one with cached opens
   * stays cached. The descriptor is closed here in every case.
   */
  private passthroughFor(ino: number, fd: number | undefined): number {
    const shared = this.backing.get(ino);
    try {
      if (shared) {
        shared.opens++;
        return shared.id;
      }
      if (fd === undefined || !this.passthrough || (this.cachedOpens.get(ino) ?? 0) > 0) return 0;
      try {
        const id = this.device.backingOpen(fd);
        this.backing.set(ino, { id, opens: 1 });
        return id;
      } catch (e) {
        this.refused(e);
        return 0;
      }
    } finally {
      if (fd !== undefined) this.device.closeFd(fd);
    }
  }

  /** The kernel refused a backing file: for good (privilege, support) or for this file (a stacked filesystem); said once per reason. */
  private refused(e: unknown): void {
    const code = String((e as { code?: unknown }).code ?? "");
    const why = code === "EPERM" ? "the kernel refused it: no CAP_SYS_ADMIN in the initial user namespace"
      : code === "ELOOP" ? "a cache file sits on a stacked filesystem (overlayfs): those files are read through the daemon"
      : `the kernel refused a backing file: ${(e as Error).message}`;
    if (code !== "ELOOP" && code !== "EBADF") {
      this.passthrough = false;
      this.passthroughOff = why;
    }
    if (this.refusals.has(why)) return;
    this.refusals.add(why);
    this.opts.verbose?.(`fuse: passthrough ${this.passthrough ? "not used for some files" : "off"}: ${why}`);
  }

  private tryBackingClose(id: number): void {
    try {
      this.device.backingClose(id);
    } catch (e) {
      this.opts.log?.(`fuse: closing backing file ${id}: ${(e as Error).message}`);
    }
  }

  private async read(ino: number, r: abi.ReadIn): Promise<Uint8Array> {
    const f = this.files.get(r.fh);
    if (!f) throw new FuseError(Errno.EBADF);
    const data = await this.fs.read(f.ino, f.fh, r.offset, r.size);
    return data.length > r.size ? data.subarray(0, r.size) : data;
  }

  private async release(handle: number): Promise<undefined> {
    const f = this.files.get(handle);
    if (!f) return undefined;
    this.files.delete(handle);
    if (f.passthrough) {
      const b = this.backing.get(f.ino);
      if (b && --b.opens === 0) {
        this.backing.delete(f.ino);
        this.tryBackingClose(b.id);
      }
    } else {
      const n = (this.cachedOpens.get(f.ino) ?? 1) - 1;
      if (n > 0) this.cachedOpens.set(f.ino, n);
      else this.cachedOpens.delete(f.ino);
    }
    await this.fs.release(f.ino, f.fh);
    return undefined;
  }

  private async opendir(ino: number): Promise<Uint8Array> {
    const r = await this.fs.opendir(ino);
    const handle = this.nextHandle++;
    this.dirs.set(handle, { ino, fh: r.fh ?? 0 });
    const flags = this.opts.cacheDirectories === false ? 0 : Fopen.CACHE_DIR | Fopen.KEEP_CACHE;
    return abi.encodeOpenOut(handle, flags);
  }

  private async readdir(r: abi.ReadIn, plus: boolean): Promise<Uint8Array> {
    return (await this.readdirPage(r, plus)).bytes;
  }

  /** One page of the listing from `r.offset`, and the entries it carries. */
  private async readdirPage(r: abi.ReadIn, plus: boolean): Promise<{ bytes: Uint8Array; sent: abi.PackEntry[] }> {
    const d = this.dirs.get(r.fh);
    if (!d) throw new FuseError(Errno.EBADF);
    // The listing is read once per open and kept until RELEASEDIR; offsets index into it.
    d.entries ??= this.fs.readdir(d.ino, d.fh).then((list) => listing(d.ino, list));
    const entries = await d.entries;
    if (r.offset >= entries.length) return { bytes: new Uint8Array(0), sent: [] };
    const page = entries.slice(r.offset, r.offset + 4096);
    const { bytes, count } = abi.packDirents(page, r.size, plus);
    return { bytes, sent: page.slice(0, count) };
  }

  private async releasedir(handle: number): Promise<undefined> {
    const d = this.dirs.get(handle);
    if (!d) return undefined;
    this.dirs.delete(handle);
    await this.fs.releasedir(d.ino, d.fh);
    return undefined;
  }

  private async getxattr(ino: number, size: number, name: string): Promise<Uint8Array> {
    const value = await this.fs.getxattr(ino, name);
    if (size === 0) return abi.encodeXattrSize(value.length);
    if (value.length > size) throw new FuseError(Errno.ERANGE);
    return value;
  }

  private async listxattr(ino: number, size: number): Promise<Uint8Array> {
    const names = await this.fs.listxattr(ino);
    const list = new TextEncoder().encode(names.map((n) => `${n}\0`).join(""));
    if (size === 0) return abi.encodeXattrSize(list.length);
    if (list.length > size) throw new FuseError(Errno.ERANGE);
    return list;
  }
}

/**
 * "." and ".." (no attributes: the kernel does not count them as lookups; ".."
 * carries the directory's own inode, as the parent is not known here), then
 * the entries; `off` is the next entry's index.
 */
function listing(ino: number, list: DirEntry[]): abi.PackEntry[] {
  const dirMode = 0o040000;
  const out: abi.PackEntry[] = [
    { name: ".", ino, mode: dirMode, off: 1, attr: null, entryTtlMs: 0, attrTtlMs: 0 },
    { name: "..", ino, mode: dirMode, off: 2, attr: null, entryTtlMs: 0, attrTtlMs: 0 },
  ];
  for (const e of list) out.push({ name: e.name, ino: e.attr.ino, mode: e.attr.mode, off: out.length + 1, attr: e.attr, entryTtlMs: e.entryTtlMs, attrTtlMs: e.attrTtlMs });
  return out;
}
