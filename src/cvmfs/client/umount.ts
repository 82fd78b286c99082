import { resolve } from "node:path";
import { CvmError } from "../../cli/errors";
import { forceUnmount, isFuseMount, mountAt } from "../../fuse/mount";
import { isAlive, readRecord, removeRecord } from "./mount-state";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Ends a mount: a live daemon is asked to stop (SIGTERM: it unmounts and
 * exits); a dead one's connection is aborted and the mount lazily removed,
 * so a crashed daemon never leaves a mountpoint that hangs. Returns what was done.
 */
export async function unmountRepository(path: string): Promise<string> {
  const mountpoint = resolve(path);
  const record = readRecord(mountpoint);
  if (record && isAlive(record.pid)) {
    process.kill(record.pid, "SIGTERM");
    for (let waited = 0; waited < 10_000 && isAlive(record.pid); waited += 50) await sleep(50);
    if (!isAlive(record.pid) && !mountAt(mountpoint)) return `${mountpoint}: unmounted (daemon ${record.pid} stopped)`;
    if (isAlive(record.pid)) process.kill(record.pid, "SIGKILL");
  }
  if (!mountAt(mountpoint)) {
    removeRecord(mountpoint);
    if (record) return `${mountpoint}: was not mounted any more`;
    throw new CvmError(`${mountpoint}: not mounted`);
  }
  if (!isFuseMount(mountpoint)) throw new CvmError(`${mountpoint}: not a FUSE mount; not touching it`);
  await forceUnmount(mountpoint);
  removeRecord(mountpoint);
  return `${mountpoint}: the daemon was gone; connection aborted and unmounted`;
}
