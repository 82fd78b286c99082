/** syncfs(2): flush one filesystem's dirty data (bun:ffi; Node has no binding). Falls back to sync(2). */
export function syncfs(fd: number): void {
  const { dlopen, FFIType } = require("bun:ffi") as typeof import("bun:ffi");
  const libc = dlopen("libc.so.6", { syncfs: { args: [FFIType.i32], returns: FFIType.i32 }, sync: { args: [], returns: FFIType.void } });
  try {
    if (libc.symbols.syncfs(fd) !== 0) libc.symbols.sync();
  } finally {
    libc.close();
  }
}
