/**
 * The FUSE kernel ABI (linux/fuse.h), protocol 7.x, as far as a read-only
 * filesystem needs it. Layouts are little-endian x86_64/aarch64; every
 * structure is padded to 8 bytes. Debian's header stops at 7.38: the 7.39+
 * parts (passthrough, backing ids, max_stack_depth) come from the kernel's
 * current header and are marked so.
 */

export const KERNEL_MAJOR = 7;
/** The newest minor version we speak (kernel 6.18 offers 7.45). */
export const KERNEL_MINOR = 45;
/** The oldest we accept: 7.31 (Linux 5.10) has every structure below at its current size. */
export const MIN_KERNEL_MINOR = 31;
export const ROOT_ID = 1;

export const Op = {
  LOOKUP: 1, FORGET: 2, GETATTR: 3, SETATTR: 4, READLINK: 5, SYMLINK: 6, MKNOD: 8, MKDIR: 9,
  UNLINK: 10, RMDIR: 11, RENAME: 12, LINK: 13, OPEN: 14, READ: 15, WRITE: 16, STATFS: 17,
  RELEASE: 18, FSYNC: 20, SETXATTR: 21, GETXATTR: 22, LISTXATTR: 23, REMOVEXATTR: 24, FLUSH: 25,
  INIT: 26, OPENDIR: 27, READDIR: 28, RELEASEDIR: 29, FSYNCDIR: 30, GETLK: 31, SETLK: 32,
  SETLKW: 33, ACCESS: 34, CREATE: 35, INTERRUPT: 36, BMAP: 37, DESTROY: 38, IOCTL: 39, POLL: 40,
  NOTIFY_REPLY: 41, BATCH_FORGET: 42, FALLOCATE: 43, READDIRPLUS: 44, RENAME2: 45, LSEEK: 46,
  COPY_FILE_RANGE: 47, SETUPMAPPING: 48, REMOVEMAPPING: 49, SYNCFS: 50, TMPFILE: 51,
  STATX: 52, COPY_FILE_RANGE_64: 53, // 7.39, 7.45
} as const;

const OP_NAMES = new Map<number, string>(Object.entries(Op).map(([name, code]) => [code, name]));
export const opName = (code: number): string => OP_NAMES.get(code) ?? `OP_${code}`;

/** Requests that would change the tree: a read-only filesystem answers EROFS. */
export const WRITE_OPS: ReadonlySet<number> = new Set([
  Op.SETATTR, Op.SYMLINK, Op.MKNOD, Op.MKDIR, Op.UNLINK, Op.RMDIR, Op.RENAME, Op.LINK, Op.WRITE,
  Op.SETXATTR, Op.REMOVEXATTR, Op.CREATE, Op.FALLOCATE, Op.RENAME2, Op.COPY_FILE_RANGE,
  Op.TMPFILE, Op.COPY_FILE_RANGE_64,
]);

/** INIT flags (fuse_init_in.flags | flags2 << 32), as bigint bits. */
export const Init = {
  ASYNC_READ: 1n << 0n,
  POSIX_LOCKS: 1n << 1n,
  ATOMIC_O_TRUNC: 1n << 3n,
  EXPORT_SUPPORT: 1n << 4n,
  BIG_WRITES: 1n << 5n,
  AUTO_INVAL_DATA: 1n << 12n,
  DO_READDIRPLUS: 1n << 13n,
  READDIRPLUS_AUTO: 1n << 14n,
  ASYNC_DIO: 1n << 15n,
  WRITEBACK_CACHE: 1n << 16n,
  NO_OPEN_SUPPORT: 1n << 17n,
  PARALLEL_DIROPS: 1n << 18n,
  ABORT_ERROR: 1n << 21n,
  MAX_PAGES: 1n << 22n,
  CACHE_SYMLINKS: 1n << 23n,
  NO_OPENDIR_SUPPORT: 1n << 24n,
  EXPLICIT_INVAL_DATA: 1n << 25n,
  INIT_EXT: 1n << 30n,
  DIRECT_IO_ALLOW_MMAP: 1n << 36n, // 7.39
  PASSTHROUGH: 1n << 37n,          // 7.40
  NO_EXPORT_SUPPORT: 1n << 38n,    // 7.40
  HAS_RESEND: 1n << 39n,           // 7.40
  ALLOW_IDMAP: 1n << 40n,          // 7.41
  OVER_IO_URING: 1n << 41n,        // 7.42
  REQUEST_TIMEOUT: 1n << 42n,      // 7.43
} as const;

/** fuse_open_out.open_flags */
export const Fopen = {
  DIRECT_IO: 1 << 0,
  KEEP_CACHE: 1 << 1,
  NONSEEKABLE: 1 << 2,
  CACHE_DIR: 1 << 3,
  STREAM: 1 << 4,
  NOFLUSH: 1 << 5,
  PASSTHROUGH: 1 << 7, // 7.40
} as const;

export const GETATTR_FH = 1;

/** Linux errno values the session answers with. */
export const Errno = {
  EPERM: 1, ENOENT: 2, EINTR: 4, EIO: 5, EBADF: 9, EAGAIN: 11, ENOMEM: 12, EACCES: 13, EEXIST: 17,
  ENODEV: 19, ENOTDIR: 20, EISDIR: 21, EINVAL: 22, EFBIG: 27, EROFS: 30, ERANGE: 34, ENAMETOOLONG: 36,
  ENOSYS: 38, ENOTEMPTY: 39, ELOOP: 40, ENODATA: 61, EPROTO: 71, EOPNOTSUPP: 95, ECONNABORTED: 103,
  ENOTCONN: 107,
} as const;

/** access(2) mask bits */
export const W_OK = 2;

// Device ioctls: _IOR/_IOW(229, nr, size) = dir << 30 | size << 16 | 229 << 8 | nr.
const ioc = (dir: number, nr: number, size: number) => ((dir << 30) | (size << 16) | (229 << 8) | nr) >>> 0;
export const FUSE_DEV_IOC_CLONE = ioc(2, 0, 4);
/** struct fuse_backing_map { int32 fd; uint32 flags; uint64 padding } (7.40) */
export const FUSE_DEV_IOC_BACKING_OPEN = ioc(1, 1, 16);
export const FUSE_DEV_IOC_BACKING_CLOSE = ioc(1, 2, 4);

export const IN_HEADER_SIZE = 40;
export const OUT_HEADER_SIZE = 16;
export const ATTR_SIZE = 88;
export const ENTRY_OUT_SIZE = 40 + ATTR_SIZE;   // 128
export const ATTR_OUT_SIZE = 16 + ATTR_SIZE;    // 104
export const OPEN_OUT_SIZE = 16;
export const STATFS_OUT_SIZE = 80;
export const INIT_OUT_SIZE = 64;
export const DIRENT_HEADER_SIZE = 24;
/** The kernel refuses a read buffer smaller than this (FUSE_MIN_READ_BUFFER). */
export const MIN_READ_BUFFER = 8192;

/** struct fuse_in_header, decoded. `body` is the rest of the request. */
export interface InHeader {
  len: number;
  opcode: number;
  unique: bigint;
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
}

export function decodeInHeader(view: DataView): InHeader {
  if (view.byteLength < IN_HEADER_SIZE) throw new RangeError(`request of ${view.byteLength} bytes is shorter than fuse_in_header`);
  return {
    len: view.getUint32(0, true),
    opcode: view.getUint32(4, true),
    unique: view.getBigUint64(8, true),
    nodeid: Number(view.getBigUint64(16, true)),
    uid: view.getUint32(24, true),
    gid: view.getUint32(28, true),
    pid: view.getUint32(32, true),
  };
}

/** A NUL-terminated name at `offset` of `bytes` (the kernel always terminates names). */
export function cString(bytes: Uint8Array, offset = 0): string {
  let end = bytes.indexOf(0, offset);
  if (end < 0) end = bytes.length;
  return DECODER.decode(bytes.subarray(offset, end));
}
const DECODER = new TextDecoder("utf-8", { fatal: false });

/** What the kernel offered in INIT. */
export interface InitIn { major: number; minor: number; maxReadahead: number; flags: bigint; }

export function decodeInitIn(body: DataView): InitIn {
  const flags = BigInt(body.getUint32(12, true));
  // flags2 only means something when the kernel sets INIT_EXT (7.36+).
  const flags2 = body.byteLength >= 20 && (flags & Init.INIT_EXT) ? BigInt(body.getUint32(16, true)) : 0n;
  return { major: body.getUint32(0, true), minor: body.getUint32(4, true), maxReadahead: body.getUint32(8, true), flags: flags | (flags2 << 32n) };
}

export interface InitOut {
  major: number; minor: number; maxReadahead: number; flags: bigint;
  maxBackground: number; congestionThreshold: number; maxWrite: number; timeGran: number;
  maxPages: number; maxStackDepth: number;
}

export function encodeInitOut(o: InitOut): Uint8Array {
  const b = new Uint8Array(INIT_OUT_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, o.major, true);
  v.setUint32(4, o.minor, true);
  v.setUint32(8, o.maxReadahead, true);
  v.setUint32(12, Number(o.flags & 0xffffffffn), true);
  v.setUint16(16, o.maxBackground, true);
  v.setUint16(18, o.congestionThreshold, true);
  v.setUint32(20, o.maxWrite, true);
  v.setUint32(24, o.timeGran, true);
  v.setUint16(28, o.maxPages, true);
  v.setUint16(30, 0, true);                                // map_alignment (DAX only)
  v.setUint32(32, Number((o.flags >> 32n) & 0xffffffffn), true);
  v.setUint32(36, o.maxStackDepth, true);                  // 7.40: passthrough needs ≥ 1
  return b;
}

/** The attributes a reply carries (the filesystem's Attr, as the kernel lays it out). */
export interface WireAttr {
  ino: number; size: number; mode: number; nlink: number; uid: number; gid: number;
  mtime: number; mtimeNs?: number; rdev?: number;
}

/**
 * st_blksize, the I/O size programs take as preferred (cat, cp, Python's
 * buffered files): 1 MiB, the largest READ this daemon asks the kernel for.
 * Every read(2) on FUSE costs more than on a local disk (a request to the
 * daemon, or the passthrough hop to the backing file), so fewer and larger
 * reads pay, as network filesystems report their transfer size here.
 */
export const PREFERRED_IO_SIZE = 1 << 20;

/** Writes struct fuse_attr at `off`. atime and ctime are the mtime: nothing here changes. */
export function putAttr(v: DataView, off: number, a: WireAttr): void {
  const mtime = BigInt(Math.max(0, Math.floor(a.mtime)));
  const ns = a.mtimeNs ?? 0;
  v.setBigUint64(off, BigInt(a.ino), true);
  v.setBigUint64(off + 8, BigInt(a.size), true);
  v.setBigUint64(off + 16, BigInt(Math.ceil(a.size / 512)), true);   // blocks of 512 bytes
  v.setBigUint64(off + 24, mtime, true);
  v.setBigUint64(off + 32, mtime, true);
  v.setBigUint64(off + 40, mtime, true);
  v.setUint32(off + 48, ns, true);
  v.setUint32(off + 52, ns, true);
  v.setUint32(off + 56, ns, true);
  v.setUint32(off + 60, a.mode, true);
  v.setUint32(off + 64, a.nlink, true);
  v.setUint32(off + 68, a.uid, true);
  v.setUint32(off + 72, a.gid, true);
  v.setUint32(off + 76, a.rdev ?? 0, true);
  v.setUint32(off + 80, PREFERRED_IO_SIZE, true);   // blksize
  v.setUint32(off + 84, 0, true);   // flags
}

/** A timeout in ms as (seconds, nanoseconds). */
function splitMs(ms: number): [bigint, number] {
  const t = Math.max(0, ms);
  const sec = Math.floor(t / 1000);
  return [BigInt(sec), Math.round((t - sec * 1000) * 1e6)];
}

/** struct fuse_entry_out at `off`. nodeid 0 tells READDIRPLUS "no entry". */
export function putEntryOut(v: DataView, off: number, nodeid: number, attr: WireAttr | null, entryTtlMs: number, attrTtlMs: number): void {
  const [es, ens] = splitMs(entryTtlMs);
  const [as, ans] = splitMs(attrTtlMs);
  v.setBigUint64(off, BigInt(nodeid), true);
  v.setBigUint64(off + 8, 0n, true);      // generation
  v.setBigUint64(off + 16, es, true);
  v.setBigUint64(off + 24, as, true);
  v.setUint32(off + 32, ens, true);
  v.setUint32(off + 36, ans, true);
  if (attr) putAttr(v, off + 40, attr);
}

export function encodeEntryOut(attr: WireAttr, entryTtlMs: number, attrTtlMs: number): Uint8Array {
  const b = new Uint8Array(ENTRY_OUT_SIZE);
  putEntryOut(new DataView(b.buffer), 0, attr.ino, attr, entryTtlMs, attrTtlMs);
  return b;
}

export function encodeAttrOut(attr: WireAttr, attrTtlMs: number): Uint8Array {
  const b = new Uint8Array(ATTR_OUT_SIZE);
  const v = new DataView(b.buffer);
  const [s, ns] = splitMs(attrTtlMs);
  v.setBigUint64(0, s, true);
  v.setUint32(8, ns, true);
  putAttr(v, 16, attr);
  return b;
}

export function encodeOpenOut(fh: number, openFlags: number, backingId = 0): Uint8Array {
  const b = new Uint8Array(OPEN_OUT_SIZE);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt(fh), true);
  v.setUint32(8, openFlags, true);
  v.setInt32(12, backingId, true);   // 7.40: was padding
  return b;
}

export interface WireStatfs { blocks: number; bfree: number; bavail: number; files: number; ffree: number; bsize: number; namelen: number; frsize: number; }

export function encodeStatfsOut(s: WireStatfs): Uint8Array {
  const b = new Uint8Array(STATFS_OUT_SIZE);
  const v = new DataView(b.buffer);
  [s.blocks, s.bfree, s.bavail, s.files, s.ffree].forEach((n, i) => v.setBigUint64(i * 8, BigInt(Math.max(0, Math.floor(n))), true));
  v.setUint32(40, s.bsize, true);
  v.setUint32(44, s.namelen, true);
  v.setUint32(48, s.frsize, true);
  return b;
}

/** struct fuse_getxattr_out: the size a value (or name list) needs. */
export function encodeXattrSize(size: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setUint32(0, size, true);
  return b;
}

/** struct fuse_read_in (READ, READDIR, READDIRPLUS) */
export interface ReadIn { fh: number; offset: number; size: number; }
export function decodeReadIn(body: DataView): ReadIn {
  return { fh: Number(body.getBigUint64(0, true)), offset: Number(body.getBigUint64(8, true)), size: body.getUint32(16, true) };
}

const align8 = (n: number) => (n + 7) & ~7;
const ENCODER = new TextEncoder();

/** One directory entry to pack: `attr` null packs a plain dirent (or, in READDIRPLUS, an entry_out with nodeid 0). */
export interface PackEntry { name: string; ino: number; mode: number; off: number; attr: WireAttr | null; entryTtlMs: number; attrTtlMs: number; }

/**
 * Packs entries into at most `size` bytes of struct fuse_dirent (or
 * fuse_direntplus when `plus`), each record 8-byte aligned. Returns the
 * buffer and how many entries fit.
 */
export function packDirents(entries: readonly PackEntry[], size: number, plus: boolean): { bytes: Uint8Array; count: number } {
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  let pos = 0;
  let count = 0;
  for (const e of entries) {
    const name = ENCODER.encode(e.name);
    const head = plus ? ENTRY_OUT_SIZE : 0;
    const rec = align8(head + DIRENT_HEADER_SIZE + name.length);
    if (pos + rec > size) break;
    if (plus) putEntryOut(v, pos, e.attr ? e.ino : 0, e.attr, e.entryTtlMs, e.attrTtlMs);
    const d = pos + head;
    v.setBigUint64(d, BigInt(e.ino), true);
    v.setBigUint64(d + 8, BigInt(e.off), true);
    v.setUint32(d + 16, name.length, true);
    v.setUint32(d + 20, (e.mode >>> 12) & 0xf, true);   // DT_* is the S_IFMT nibble
    out.set(name, d + DIRENT_HEADER_SIZE);
    pos += rec;   // the padding stays zero
    count++;
  }
  return { bytes: out.subarray(0, pos), count };
}

/** struct fuse_out_header for a reply whose body (written after it, not copied) is `bodyLength` bytes. */
export function encodeOutHeader(unique: bigint, error: number, bodyLength = 0): Uint8Array {
  const b = new Uint8Array(OUT_HEADER_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, OUT_HEADER_SIZE + bodyLength, true);
  v.setInt32(4, error ? -Math.abs(error) : 0, true);
  v.setBigUint64(8, unique, true);
  return b;
}
