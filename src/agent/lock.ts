import { closeSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { CvmError, errnoCode } from "../cli/errors";
import type { RootFs } from "./root";

/**
 * The shadow-utils lock of a file: `<file>.lock` made by link(2) from a file
 * holding our pid, so it is atomic on every filesystem; a lock whose holder
 * is dead is taken over; a live holder is waited for 5 s, then named.
 * Returns the unlock function.
 */
const LOCK_TRIES = 50, LOCK_WAIT_MS = 100;

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (err) { return errnoCode(err) === "EPERM"; }
}

export function lock(root: RootFs, guest: string): () => void {
  const lockPath = root.resolve(`${guest}.lock`, "keep");
  const mine = root.resolve(`${guest}.${process.pid}`, "keep");
  try { unlinkSync(mine); } catch { /* left by an earlier process with our pid, or none */ }
  const fd = openSync(mine, "wx", 0o600);
  try { writeSync(fd, String(process.pid)); } finally { closeSync(fd); }
  try {
    for (let tries = 0; ; tries++) {
      try {
        linkSync(mine, lockPath);
        return () => { try { unlinkSync(lockPath); } catch { /* gone already */ } };
      } catch (err) {
        if (errnoCode(err) !== "EEXIST") throw new CvmError(`${guest}.lock: cannot lock: ${(err as Error).message}`);
      }
      let holder = NaN;
      try { holder = Number(readFileSync(lockPath, "latin1").trim()); } catch { /* vanished: retry */ }
      if (Number.isInteger(holder) && holder > 0 && !alive(holder)) { try { unlinkSync(lockPath); } catch { /* raced */ } continue; }
      if (tries >= LOCK_TRIES) throw new CvmError(`${guest}: locked by process ${Number.isNaN(holder) ? "?" : holder} (${guest}.lock); try again later`);
      Bun.sleepSync(LOCK_WAIT_MS);
    }
  } finally {
    unlinkSync(mine);
  }
}

