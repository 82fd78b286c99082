import { closeSync, constants, fstatSync, openSync, readlinkSync } from "node:fs";
import { CvmError } from "../../cli/errors";
import { beneath } from "./openat2";
import { readFull } from "../../sys/read-full";

// Linux's O_PATH: a handle on whatever a path leads to, without opening it
// (no side effects, whatever it is: a FIFO, a device, a file outside).
const O_PATH = 0o10000000;

/** A regular file inside a storage, open for reading. */
export interface OpenFile { fd: number; size: number; mtimeMs: number; version: string; }

/** What changes whenever the file's content may have: the inode (a file renamed over it), size, mtime, ctime. */
const versionOf = (st: { ino: number; size: number; mtimeMs: number; ctimeMs: number }) => `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;

/** Opens a storage's files, as openInside does; with openat2 when the kernel has it (one system call), else by hand. */
export function fileOpener(root: string): { open: (rel: string) => OpenFile | undefined; close: () => void } {
  const b = beneath(root);
  if (!b) {
    checkProcFd(root);
    return { open: (rel) => openInside(root, rel), close: () => {} };
  }
  return {
    open(rel) {
      const fd = b.open(rel);
      if (fd < 0) return undefined; // absent, leading outside (EXDEV), a loop, no permission: all 404
      try {
        const st = fstatSync(fd);
        if (st.isFile()) return { fd, size: st.size, mtimeMs: st.mtimeMs, version: versionOf(st) };
      } catch { /* below */ }
      closeSync(fd);
      return undefined;
    },
    close: b.close,
  };
}

/**
 * Opens `root/rel` only if it is a regular file whose real location lies
 * inside `root` (a real path). Symlinks inside the storage are followed as
 * long as what they finally lead to is inside it (upstream's `.cvmfsalt-*`
 * shortcuts are such links); anything leading outside, and anything but a
 * regular file, is as if absent. The check is made on the handle itself
 * (/proc/self/fd names where it really is), and the file is then opened
 * through that same handle, so swapping a directory for a link between the
 * check and the open cannot lead elsewhere. (Kernels without openat2.)
 */
export function openInside(root: string, rel: string): OpenFile | undefined {
  let handle: number;
  try {
    handle = openSync(`${root}/${rel}`, O_PATH);
  } catch {
    return undefined; // absent, a dangling or looping link, no permission: all 404
  }
  try {
    const st = fstatSync(handle);
    if (!st.isFile()) return undefined;
    if (!readlinkSync(`/proc/self/fd/${handle}`).startsWith(root + "/")) return undefined;
    const fd = openSync(`/proc/self/fd/${handle}`, constants.O_RDONLY);
    return { fd, size: st.size, mtimeMs: st.mtimeMs, version: versionOf(st) };
  } catch {
    return undefined;
  } finally {
    closeSync(handle);
  }
}

/** The whole file (a small one), then closed; shorter if it shrank meanwhile. */
export function readWhole(f: OpenFile): Buffer {
  try {
    const buf = Buffer.allocUnsafe(f.size);
    const at = readFull(f.fd, buf, 0);
    return at === f.size ? buf : buf.subarray(0, at);
  } finally {
    closeSync(f.fd);
  }
}

/** The check above needs /proc (to learn where an opened handle really is); refuse to start without it. */
export function checkProcFd(root: string): void {
  let handle: number | undefined;
  try {
    handle = openSync(root, O_PATH);
    if (readlinkSync(`/proc/self/fd/${handle}`) === root) return;
  } catch { /* below */ } finally {
    if (handle !== undefined) closeSync(handle);
  }
  throw new CvmError(`${root}: cannot tell where opened files really are (is /proc mounted?); cvm serve needs /proc/self/fd to keep requests inside the storage`);
}
