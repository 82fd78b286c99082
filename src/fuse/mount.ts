/**
 * Mounting and unmounting a FUSE filesystem, and aborting a dead connection.
 * As root: mount(2) with a /dev/fuse descriptor we opened. As anyone else:
 * the set-uid fusermount3 mounts and hands the descriptor back over a unix
 * socket named in _FUSE_COMMFD (libfuse's protocol).
 */
import { existsSync, openSync, closeSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { CvmError } from "../cli/errors";
import * as libc from "./libc";

export type MountMethod = "mount" | "fusermount3";

export interface MountSettings {
  /** Shown as the source in `mount` and `df` (default "fuse"). */
  fsname?: string;
  /** The type is `fuse.<subtype>` (default: fsname). */
  subtype?: string;
  /** Let users other than the mounting one in (non-root: needs user_allow_other in /etc/fuse.conf). */
  allowOther?: boolean;
  /** The kernel checks mode bits itself (and sends no ACCESS). */
  defaultPermissions?: boolean;
  /** Default: mount(2) when running as root, fusermount3 otherwise. */
  method?: MountMethod;
}

export interface Mounted { fd: number; method: MountMethod; mountpoint: string; }

const CONNECTIONS = "/sys/fs/fuse/connections";

/** The absolute path of `path` as /proc/self/mountinfo shows it, without touching the (maybe hung) mount itself. */
export function canonicalMountpoint(path: string): string {
  const abs = resolve(path);
  if (abs === "/") return abs;
  return resolve(realpathSync(dirname(abs)), basename(abs));
}

function validName(what: string, value: string): string {
  if (!/^[A-Za-z0-9_.@:+-]{1,64}$/.test(value)) throw new CvmError(`fuse ${what}: '${value}' is not usable (expected 1-64 letters, digits or ._@:+-)`);
  return value;
}

/** Mounts an empty FUSE filesystem at `mountpoint` read-only and returns the /dev/fuse descriptor to serve it on. */
export async function mountFuse(mountpoint: string, s: MountSettings = {}): Promise<Mounted> {
  const target = canonicalMountpoint(mountpoint);
  const fsname = validName("fsname", s.fsname ?? "fuse");
  const subtype = validName("subtype", s.subtype ?? fsname);
  const method = s.method ?? (process.geteuid?.() === 0 ? "mount" : "fusermount3");
  const extra = [s.allowOther ? "allow_other" : "", s.defaultPermissions ? "default_permissions" : ""].filter(Boolean);
  if (method === "mount") {
    let fd: number;
    try {
      fd = openSync("/dev/fuse", "r+");
    } catch (e) {
      throw new CvmError(`/dev/fuse: ${(e as Error).message.replace(/^\w+: /, "")} (is the fuse module loaded and the device available?)`);
    }
    const data = [`fd=${fd}`, "rootmode=40000", `user_id=${process.getuid?.() ?? 0}`, `group_id=${process.getgid?.() ?? 0}`, ...extra].join(",");
    try {
      libc.mount(fsname, target, `fuse.${subtype}`, libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NODEV, data);
    } catch (e) {
      closeSync(fd);
      throw new CvmError(`mount ${target}: ${(e as libc.SyscallError).message.replace(/^mount: /, "")}`);
    }
    return { fd, method, mountpoint: target };
  }
  return { fd: await viaFusermount(target, ["ro", "nodev", "nosuid", `fsname=${fsname}`, `subtype=${subtype}`, ...extra].join(",")), method, mountpoint: target };
}

function fusermountPath(): string {
  const found = Bun.which("fusermount3") ?? ["/usr/bin/fusermount3", "/bin/fusermount3"].find((p) => existsSync(p));
  if (!found) throw new CvmError("fusermount3 not found: a non-root mount needs it (Debian package fuse3)");
  return found;
}

async function viaFusermount(target: string, options: string): Promise<number> {
  const [mine, theirs] = libc.socketPair();
  try {
    const proc = Bun.spawn([fusermountPath(), "-o", options, "--", target], {
      stdio: ["ignore", "ignore", "pipe", theirs],
      env: { ...process.env, _FUSE_COMMFD: "3" },
    });
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    libc.close(theirs);
    const fd = libc.receiveFd(mine);
    if (code !== 0 || fd === null) {
      if (fd !== null) closeSync(fd);
      const why = stderr.trim().split("\n").pop()?.replace(/^fusermount3: /, "") || `fusermount3 exited with ${code} and passed no descriptor`;
      throw new CvmError(`mount ${target}: ${why}`);
    }
    return fd;
  } finally {
    libc.close(mine);
  }
}

/** Unmounts; when busy (files open), lazily: the mount leaves the tree now and ends when the last file closes. */
export async function unmountFuse(mountpoint: string, o: { method?: MountMethod; lazy?: boolean } = {}): Promise<void> {
  const target = canonicalMountpoint(mountpoint);
  const method = o.method ?? (process.geteuid?.() === 0 ? "mount" : "fusermount3");
  if (method === "mount") {
    try {
      libc.umount2(target, o.lazy ? libc.MNT_DETACH : 0);
    } catch (e) {
      const err = e as libc.SyscallError;
      if (err.code === "EBUSY" && !o.lazy) return unmountFuse(target, { method, lazy: true });
      throw new CvmError(`unmount ${target}: ${err.message.replace(/^umount2: /, "")}`);
    }
    return;
  }
  const run = async (args: string[]) => {
    const p = Bun.spawn([fusermountPath(), ...args, "--", target], { stdio: ["ignore", "ignore", "pipe"] });
    const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    return { code, stderr: stderr.trim().replace(/^fusermount3: /, "") };
  };
  const first = await run(o.lazy ? ["-u", "-z"] : ["-u"]);
  if (first.code === 0) return;
  if (!o.lazy && /busy/i.test(first.stderr)) {
    const second = await run(["-u", "-z"]);
    if (second.code === 0) return;
    throw new CvmError(`unmount ${target}: ${second.stderr}`);
  }
  throw new CvmError(`unmount ${target}: ${first.stderr}`);
}

export interface MountEntry { mountpoint: string; fstype: string; source: string; dev: number; }

const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The topmost mount at `mountpoint`, from /proc/self/mountinfo (never touching the mount itself). */
export function mountAt(mountpoint: string): MountEntry | null {
  const target = canonicalMountpoint(mountpoint);
  let found: MountEntry | null = null;
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const f = line.split(" ");
    const dash = f.indexOf("-");
    if (dash < 6 || unescape(f[4]) !== target) continue;
    const [major, minor] = f[2].split(":").map(Number);
    // The kernel's dev_t (major << 20 | minor) names the connection in fusectl.
    found = { mountpoint: target, fstype: f[dash + 1], source: unescape(f[dash + 2] ?? ""), dev: ((major << 20) | minor) >>> 0 };
  }
  return found;
}

/** Whether a FUSE filesystem (fuse or fuse.*) is mounted there. */
export function isFuseMount(mountpoint: string): boolean {
  const m = mountAt(mountpoint);
  return m !== null && (m.fstype === "fuse" || m.fstype.startsWith("fuse."));
}

/** Makes /sys/fs/fuse/connections available (root mounts fusectl there when it is not). */
export function ensureFusectl(): boolean {
  if (existsSync(CONNECTIONS) && mountAt(CONNECTIONS)?.fstype === "fusectl") return true;
  if (process.geteuid?.() !== 0 || !existsSync(CONNECTIONS)) return false;
  try {
    libc.mount("none", CONNECTIONS, "fusectl", 0, "");
    return true;
  } catch {
    return false;
  }
}

/**
 * Aborts the FUSE connection mounted at `mountpoint` (a daemon that hangs or
 * stopped): every waiting and future request fails with ENOTCONN, so the
 * mount can be unmounted. Returns false when there is no such connection or
 * fusectl is out of reach.
 */
export function abortConnection(mountpoint: string): boolean {
  const m = mountAt(mountpoint);
  if (!m || !(m.fstype === "fuse" || m.fstype.startsWith("fuse."))) return false;
  return abortConnectionId(m.dev);
}

export function abortConnectionId(dev: number): boolean {
  if (!ensureFusectl()) return false;
  const file = `${CONNECTIONS}/${dev}/abort`;
  if (!existsSync(file)) return false;
  try {
    writeFileSync(file, "1");
    return true;
  } catch {
    return false;
  }
}

/**
 * Leaves nothing mounted at `mountpoint`, whatever state its daemon is in:
 * abort the connection (so nothing waits on a dead or stopped daemon), then
 * unmount, lazily when busy. Quiet when nothing FUSE is mounted there.
 */
export async function forceUnmount(mountpoint: string, o: { method?: MountMethod } = {}): Promise<void> {
  if (!isFuseMount(mountpoint)) return;
  abortConnection(mountpoint);
  await unmountFuse(mountpoint, { method: o.method });
  if (isFuseMount(mountpoint)) await unmountFuse(mountpoint, { method: o.method, lazy: true });
}
