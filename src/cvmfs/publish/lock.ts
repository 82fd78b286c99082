import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { errnoCode } from "../../cli/errors";
import { log } from "../../cli/log";
import { RepositoryError } from "../errors";

const LOCK_NAME = ".cvm_publish.lock";

/**
 * One publisher per storage at a time. The lock file names its holder (pid@host);
 * a lock whose process is gone on this host is stale and taken over.
 */
export function acquirePublishLock(storageDir: string): () => void {
  const path = join(storageDir, LOCK_NAME);
  const me = `${process.pid}@${hostname()}`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o644);
      writeSync(fd, me + "\n");
      closeSync(fd);
      return () => { try { unlinkSync(path); } catch { /* already gone */ } };
    } catch (err) {
      if (errnoCode(err) !== "EEXIST") throw new RepositoryError(`${path}: cannot create the publish lock: ${(err as Error).message}`);
    }
    const holder = readHolder(path);
    if (holder && holder.host === hostname() && !alive(holder.pid)) {
      log.warn(`removing a stale publish lock left by pid ${holder.pid} (${path})`);
      try { unlinkSync(path); } catch { /* raced with someone else: retry */ }
      continue;
    }
    throw new RepositoryError(`${storageDir}: another publish is running (lock held by ${holder ? `pid ${holder.pid} on ${holder.host}` : "an unknown process"}; ${path})`);
  }
  throw new RepositoryError(`${path}: could not take the publish lock`);
}

function readHolder(path: string): { pid: number; host: string } | undefined {
  try {
    const m = /^(\d+)@(.+)$/.exec(readFileSync(path, "utf8").trim());
    return m ? { pid: Number(m[1]), host: m[2] } : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === "EPERM";
  }
}
