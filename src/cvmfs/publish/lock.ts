import { closeSync, constants, fstatSync, ftruncateSync, lstatSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { RepositoryError } from "../errors";
import { describeErrno } from "./errors";

const LOCK_NAME = ".cvm_publish.lock";
const LOCK_EX = 2, LOCK_NB = 4, EWOULDBLOCK = 11;

/** flock(2) through libc (Node has no binding): "held" when another open file description holds the lock. */
function flockExclusive(fd: number): "ok" | "held" | number {
  const { dlopen, FFIType, read } = require("bun:ffi") as typeof import("bun:ffi");
  const libc = dlopen("libc.so.6", {
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  });
  try {
    if (libc.symbols.flock(fd, LOCK_EX | LOCK_NB) === 0) return "ok";
    const errno = read.i32(libc.symbols.__errno_location()!, 0);
    return errno === EWOULDBLOCK ? "held" : errno;
  } finally {
    libc.close();
  }
}

/**
 * One publisher per storage at a time: an exclusive flock(2) on
 * <storage>/.cvm_publish.lock, held for the whole publish. The kernel drops it
 * when the holder exits, however it ends, so there is no stale lock to take
 * over; a second publisher is refused at once, naming the holder. Compatible
 * with flock(1) (`flock <storage>/.cvm_publish.lock cmd` keeps publishers out).
 * Returns the release function.
 */
export function acquirePublishLock(storageDir: string): () => void {
  const path = join(storageDir, LOCK_NAME);
  // A holder removes the file when it is done; if that happened between our open
  // and our flock, we locked a file nobody else can see: open the name again.
  for (let attempt = 0; attempt < 8; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o644); // Bun opens close-on-exec: children never hold it
    } catch (err) {
      throw new RepositoryError(`${path}: cannot open the publish lock: ${describeErrno(err)}`);
    }
    const got = flockExclusive(fd);
    if (got !== "ok") {
      const holder = got === "held" ? holderOf(fd, path) : undefined;
      closeSync(fd);
      if (got !== "held") throw new RepositoryError(`${path}: cannot lock: errno ${got}`);
      throw new RepositoryError(`${storageDir}: another publish is running (${holder ? `locked by pid ${holder}` : `locked by another process; ${path}`}); try again when it has finished`);
    }
    if (!namesSameFile(fd, path)) {
      closeSync(fd);
      continue;
    }
    // For people and tools that look: who holds it. Only a note (the lock is the flock), so a full disk does not stop us here.
    try {
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid}@${hostname()}\n`, 0);
    } catch { /* the flock is held all the same */ }
    return () => {
      try { unlinkSync(path); } catch { /* removed by hand: the flock still excluded everyone until now */ }
      closeSync(fd);
    };
  }
  throw new RepositoryError(`${path}: the lock file keeps being replaced while taking it; is something else removing it?`);
}

function namesSameFile(fd: number, path: string): boolean {
  try {
    const a = fstatSync(fd, { bigint: true }), b = lstatSync(path, { bigint: true });
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}

/**
 * The pid holding the flock on this file: from /proc/locks (exact, even before
 * the holder has written its pid into the file), else what the file says.
 */
function holderOf(fd: number, path: string): number | undefined {
  try {
    const st = fstatSync(fd, { bigint: true });
    const major = ((st.dev >> 8n) & 0xfffn) | ((st.dev >> 32n) & ~0xfffn);
    const minor = (st.dev & 0xffn) | ((st.dev >> 12n) & ~0xffn);
    const id = `${major.toString(16).padStart(2, "0")}:${minor.toString(16).padStart(2, "0")}:${st.ino}`;
    for (const line of readFileSync("/proc/locks", "utf8").split("\n")) {
      const f = line.trim().split(/\s+/);
      if (f[1] === "FLOCK" && f[5] === id) return Number(f[4]);
    }
  } catch { /* no /proc: fall back to the file */ }
  try {
    const m = /^(\d+)@/.exec(readFileSync(path, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
