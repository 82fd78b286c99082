import { mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { writeFileAtomic } from "../../sys/atomic";

/**
 * What a running mount daemon leaves for `cvm umount` and `cvm fs talk` to
 * find it by mountpoint without touching the mount itself (a dead daemon's
 * mount would hang a stat): its pid and its talk socket, in a runtime
 * directory (/run/cvm for root, $XDG_RUNTIME_DIR/cvm otherwise; CVM_RUNTIME_DIR moves it).
 */
export interface MountRecord { mountpoint: string; fqrn: string; pid: number; socket: string; started: string; }

export function runtimeDir(env = process.env): string {
  if (env.CVM_RUNTIME_DIR) return env.CVM_RUNTIME_DIR;
  if (process.getuid?.() === 0) return "/run/cvm";
  return env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, "cvm") : join(homedir(), ".cache", "cvm", "run");
}

const base = (mountpoint: string) => join(runtimeDir(), createHash("sha256").update(mountpoint).digest("hex").slice(0, 16));

export const socketPath = (mountpoint: string) => `${base(mountpoint)}.sock`;

/** Where a background mount daemon logs (kept after it stops, unlike its record and socket). */
export const logPath = (mountpoint: string) => `${base(mountpoint)}.log`;

export function writeRecord(r: MountRecord): void {
  mkdirSync(runtimeDir(), { recursive: true, mode: 0o700 });
  writeFileAtomic(`${base(r.mountpoint)}.json`, JSON.stringify(r) + "\n", 0o600);
}

export function readRecord(mountpoint: string): MountRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(`${base(mountpoint)}.json`, "utf8")) as MountRecord;
    return r.mountpoint === mountpoint && Number.isSafeInteger(r.pid) ? r : undefined;
  } catch {
    return undefined;
  }
}

export function removeRecord(mountpoint: string): void {
  rmSync(`${base(mountpoint)}.json`, { force: true });
  rmSync(`${base(mountpoint)}.sock`, { force: true });
}

/** Every record, for `cvm mount` without arguments. */
export function allRecords(): MountRecord[] {
  let names: string[];
  try { names = readdirSync(runtimeDir()).filter((n) => n.endsWith(".json")); } catch { return []; }
  return names.flatMap((n) => { try { return [JSON.parse(readFileSync(join(runtimeDir(), n), "utf8")) as MountRecord]; } catch { return []; } });
}

/** A running process (a zombie, killed but not yet reaped, is not). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as { code?: string }).code !== "EPERM") return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true; // no /proc: trust kill(0)
  }
}
