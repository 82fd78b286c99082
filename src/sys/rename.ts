import { errnoCode } from "../cli/errors";

/**
 * rename(2) that never replaces what is at `to` (renameat2 with
 * RENAME_NOREPLACE, through bun:ffi): a tree built aside appears under its
 * name whole, or not at all, and never over something that appeared meanwhile.
 * Throws an Error with code EEXIST when `to` exists.
 */
export function renameNoReplace(from: string, to: string): void {
  const { dlopen, FFIType } = require("bun:ffi") as typeof import("bun:ffi");
  const libc = dlopen("libc.so.6", {
    renameat2: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  });
  const AT_FDCWD = -100, RENAME_NOREPLACE = 1;
  const enc = (s: string) => new TextEncoder().encode(s + "\0");
  try {
    if (libc.symbols.renameat2(AT_FDCWD, enc(from), AT_FDCWD, enc(to), RENAME_NOREPLACE) === 0) return;
    const { read } = require("bun:ffi") as typeof import("bun:ffi");
    const errno = read.i32(libc.symbols.__errno_location()!, 0);
    const names: Record<number, string> = { 17: "EEXIST", 2: "ENOENT", 18: "EXDEV", 22: "EINVAL", 13: "EACCES", 28: "ENOSPC", 30: "EROFS" };
    const code = names[errno] ?? `errno ${errno}`;
    const err = Object.assign(new Error(`${code === "EEXIST" ? "already exists" : code}: rename '${from}' -> '${to}'`), { code });
    throw err;
  } finally {
    libc.close();
  }
}

export const isExists = (err: unknown) => errnoCode(err) === "EEXIST";
