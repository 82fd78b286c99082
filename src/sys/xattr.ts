/**
 * Extended attributes of a path without following symlinks (llistxattr /
 * lgetxattr through bun:ffi: Node has no API for them).
 */
type Libc = {
  symbols: {
    llistxattr(path: Uint8Array, list: Uint8Array | null, size: number): number;
    lgetxattr(path: Uint8Array, name: Uint8Array, value: Uint8Array | null, size: number): number;
  };
};
let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  const { dlopen, FFIType } = require("bun:ffi") as typeof import("bun:ffi");
  libc = dlopen("libc.so.6", {
    llistxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
    lgetxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
  }) as unknown as Libc;
  return libc;
}

const cString = (s: string) => new TextEncoder().encode(s + "\0");

/** name → value; empty when the filesystem has none or does not support them. */
export function readXattrs(path: string): Map<string, Uint8Array> {
  const { symbols } = load();
  const p = cString(path);
  const out = new Map<string, Uint8Array>();
  const listSize = Number(symbols.llistxattr(p, null, 0));
  if (listSize <= 0) return out;
  const list = new Uint8Array(listSize);
  const got = Number(symbols.llistxattr(p, list, listSize));
  if (got <= 0) return out;
  for (const name of new TextDecoder().decode(list.subarray(0, got)).split("\0").filter(Boolean)) {
    const n = cString(name);
    const size = Number(symbols.lgetxattr(p, n, null, 0));
    if (size < 0) continue;
    const value = new Uint8Array(size);
    const read = size ? Number(symbols.lgetxattr(p, n, value, size)) : 0;
    if (read >= 0) out.set(name, value.subarray(0, read));
  }
  return out;
}
