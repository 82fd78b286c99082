/**
 * The few libc calls FUSE needs that Bun's node:fs does not offer: mount(2),
 * umount2(2), ioctl(2) on /dev/fuse, socketpair(2) and recvmsg(2) with
 * SCM_RIGHTS. Loaded lazily: importing this module costs nothing until a call.
 */
import { dlopen, ptr, read as readPtr, type Pointer } from "bun:ffi";
import { constants } from "node:os";

function load() {
  return dlopen("libc.so.6", {
    mount: { args: ["ptr", "ptr", "ptr", "u64", "ptr"], returns: "i32" },
    umount2: { args: ["ptr", "i32"], returns: "i32" },
    ioctl: { args: ["i32", "u64", "ptr"], returns: "i32" },
    socketpair: { args: ["i32", "i32", "i32", "ptr"], returns: "i32" },
    recvmsg: { args: ["i32", "ptr", "i32"], returns: "i64" },
    close: { args: ["i32"], returns: "i32" },
    writev: { args: ["i32", "ptr", "i32"], returns: "i64" },
    strerror: { args: ["i32"], returns: "cstring" },
    __errno_location: { args: [], returns: "ptr" },
  }).symbols;
}
let lib: ReturnType<typeof load> | undefined;
const libc = () => (lib ??= load());

/** A failed system call: `code` is the errno name (EBUSY, …), as node:fs errors carry it. */
export class SyscallError extends Error {
  constructor(readonly call: string, readonly errno: number) {
    super(`${call}: ${describeErrno(errno)}`);
    this.name = "SyscallError";
  }
  get code(): string { return errnoName(this.errno); }
}

const NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));
export const errnoName = (errno: number): string => NAMES.get(errno) ?? `errno ${errno}`;

/** "Device or resource busy (EBUSY)" */
export function describeErrno(errno: number): string {
  const text = String(libc().strerror(errno) ?? "");
  return text ? `${text} (${errnoName(errno)})` : errnoName(errno);
}

// errno is read right after the call, on the same thread, before any other FFI call.
function errno(): number {
  return readPtr.i32(libc().__errno_location() as Pointer, 0);
}

const cstr = (s: string) => Buffer.from(`${s}\0`);

export const MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4;
export const MNT_FORCE = 1, MNT_DETACH = 2;

export function mount(source: string, target: string, fstype: string, flags: number, data: string): void {
  if (libc().mount(cstr(source), cstr(target), cstr(fstype), BigInt(flags), cstr(data)) !== 0) throw new SyscallError("mount", errno());
}

export function umount2(target: string, flags: number): void {
  if (libc().umount2(cstr(target), flags) !== 0) throw new SyscallError("umount2", errno());
}

/** ioctl(fd, request, arg) with a pointer argument; returns the call's non-negative result. */
export function ioctl(fd: number, request: number, arg: Uint8Array): number {
  const r = libc().ioctl(fd, BigInt(request), ptr(arg));
  if (r < 0) throw new SyscallError("ioctl", errno());
  return r;
}

/** writev(2) of `parts` in one call (a /dev/fuse reply must be one write); returns the bytes written. */
export function writev(fd: number, parts: readonly Uint8Array[]): number {
  const iov = new BigUint64Array(parts.length * 2);
  let n = 0;
  for (const p of parts) {
    if (p.length === 0) continue;
    iov[n * 2] = BigInt(ptr(p));
    iov[n * 2 + 1] = BigInt(p.length);
    n++;
  }
  const r = Number(libc().writev(fd, ptr(iov), n));
  if (r < 0) throw new SyscallError("writev", errno());
  return r;
}

export function close(fd: number): void {
  libc().close(fd);
}

const AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0o2000000;

/** A connected pair of unix stream sockets, both close-on-exec. */
export function socketPair(): [number, number] {
  const sv = new Int32Array(2);
  if (libc().socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ptr(sv)) !== 0) throw new SyscallError("socketpair", errno());
  return [sv[0], sv[1]];
}

const MSG_DONTWAIT = 0x40, MSG_CMSG_CLOEXEC = 0x40000000;
const SOL_SOCKET = 1, SCM_RIGHTS = 1;

/**
 * Receives one descriptor passed with SCM_RIGHTS on `sock` (without waiting:
 * the sender has already exited). Returns null when none came.
 */
export function receiveFd(sock: number): number | null {
  const data = new Uint8Array(8);
  const iov = new BigUint64Array([BigInt(ptr(data)), BigInt(data.length)]);
  const control = new Uint8Array(64);  // CMSG_SPACE(sizeof(int)) is 24
  const msg = new DataView(new ArrayBuffer(56));  // struct msghdr
  msg.setBigUint64(16, BigInt(ptr(iov)), true);   // msg_iov
  msg.setBigUint64(24, 1n, true);                 // msg_iovlen
  msg.setBigUint64(32, BigInt(ptr(control)), true);
  msg.setBigUint64(40, BigInt(control.length), true);
  const n = Number(libc().recvmsg(sock, ptr(msg), MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
  if (n < 0) {
    const e = errno();
    if (e === constants.errno.EAGAIN) return null;
    throw new SyscallError("recvmsg", e);
  }
  const controllen = Number(msg.getBigUint64(40, true));
  const c = new DataView(control.buffer);
  // struct cmsghdr { size_t len; int level; int type; data }
  for (let off = 0; off + 16 <= controllen;) {
    const len = Number(c.getBigUint64(off, true));
    if (len < 16) break;
    if (c.getInt32(off + 8, true) === SOL_SOCKET && c.getInt32(off + 12, true) === SCM_RIGHTS && len >= 20) return c.getInt32(off + 16, true);
    off += (len + 7) & ~7;
  }
  return null;
}
