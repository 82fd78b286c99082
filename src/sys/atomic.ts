import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";

/**
 * Writes a file so that readers see either the old content or the whole new
 * one: a temp file (in the same directory, or `tmpDir` on the same
 * filesystem), created with `mode` (never wider), fsynced, renamed over the
 * target, and the directory fsynced.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644, tmpDir = dirname(path)): void {
  const dir = dirname(path);
  const tmp = join(tmpDir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const fd = openSync(tmp, "wx", mode);
  try {
    fchmodSync(fd, mode); // the umask may have narrowed it; say exactly what we mean
    writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
  syncDirectory(dir);
}

export function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try { fsyncSync(fd); } finally { closeSync(fd); }
  } catch { /* some filesystems cannot fsync a directory; the rename is still atomic */ }
}
