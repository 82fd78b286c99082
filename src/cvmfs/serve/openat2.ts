import { closeSync, constants, openSync } from "node:fs";

/**
 * openat2(2) with RESOLVE_BENEATH (Linux 5.6+) through bun:ffi: the kernel
 * resolves the path below a directory and fails (EXDEV) as soon as any step
 * — "..", an absolute path, a symlink — would leave it; magic links
 * (/proc/…/fd) are refused too. One system call instead of open, check and
 * reopen. `beneath` returns a file descriptor, or -errno.
 */
export interface Beneath { open(rel: string): number; close(): void; }

const SYS_openat2 = 437; // the same number on every architecture's generic syscall table (x86_64, aarch64, …)
const RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_BENEATH = 0x08;
const O_CLOEXEC = 0o2000000;
const O_PATH = 0o10000000;

let libc: { symbols: { syscall: (...a: unknown[]) => number | bigint; __errno_location: () => unknown } } | undefined;
let read: typeof import("bun:ffi").read | undefined;

function load() {
  if (libc) return libc;
  const ffi = require("bun:ffi") as typeof import("bun:ffi");
  read = ffi.read;
  libc = ffi.dlopen("libc.so.6", {
    syscall: { args: [ffi.FFIType.i64, ffi.FFIType.i32, ffi.FFIType.ptr, ffi.FFIType.ptr, ffi.FFIType.u64], returns: ffi.FFIType.i64 },
    __errno_location: { args: [], returns: ffi.FFIType.ptr },
  }) as unknown as typeof libc;
  return libc!;
}

/** A handle on `root` for opening files below it; undefined when the kernel has no openat2 (the caller then checks by hand). */
export function beneath(root: string): Beneath | undefined {
  let rootFd: number;
  try {
    rootFd = openSync(root, O_PATH | constants.O_DIRECTORY | O_CLOEXEC);
  } catch {
    return undefined;
  }
  const how = new BigUint64Array([BigInt(constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | O_CLOEXEC), 0n, BigInt(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)]);
  const call = (rel: string): number => {
    const l = load();
    const r = Number(l.symbols.syscall(SYS_openat2, rootFd, Buffer.from(rel + "\0"), how, 24));
    return r >= 0 ? r : -read!.i32(l.symbols.__errno_location() as never, 0);
  };
  try {
    const probe = call(".");
    if (probe < 0) { closeSync(rootFd); return undefined; } // ENOSYS (older kernel), or a seccomp filter refusing it
    closeSync(probe);
  } catch {
    closeSync(rootFd);
    return undefined;
  }
  return { open: call, close: () => closeSync(rootFd) };
}
