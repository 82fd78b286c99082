import { lstatSync, readdirSync } from "node:fs";
import { resolve } from "node:path";
import { CvmError, errnoCode, UsageError } from "../../cli/errors";
import { log } from "../../cli/log";
import { forceUnmount, isFuseMount, mountAt } from "../../fuse/mount";
import { startFuse, type FuseHandle } from "../../fuse/server";
import { toHex } from "../format/hash";
import { openConfigured, type Configured } from "./open";
import { RepositoryFs } from "./mount-fs";
import { isAlive, readRecord, removeRecord, socketPath, writeRecord } from "./mount-state";
import { serveTalk } from "./talk";

export interface MountRequest {
  name: string;
  mountpoint: string;
  configRoot?: string;
  overrides?: Record<string, string>;
  keys?: string;
  version: string;
  allowOther?: boolean;
  passthrough?: boolean;
}

/**
 * A mountpoint a mount may go on: an existing, empty directory that is not
 * already mounted. The mount of a daemon that died is cleaned up first
 * (connection aborted, lazily unmounted), so a crash never blocks a remount.
 */
export async function prepareMountpoint(path: string): Promise<string> {
  const mountpoint = resolve(path);
  const record = readRecord(mountpoint);
  if (mountAt(mountpoint)) {
    if (record && isAlive(record.pid)) throw new CvmError(`${mountpoint}: ${record.fqrn} is already mounted here (pid ${record.pid}); cvm umount ${mountpoint} first`);
    if (!isFuseMount(mountpoint)) throw new CvmError(`${mountpoint}: something else is mounted here`);
    log.warn(`${mountpoint}: cleaning up the mount of a daemon that is gone`);
    await forceUnmount(mountpoint);
    removeRecord(mountpoint);
  }
  let st;
  try {
    st = lstatSync(mountpoint);
  } catch (err) {
    throw new UsageError(`${mountpoint}: ${errnoCode(err) === "ENOENT" ? "no such directory (create the mountpoint first)" : (err as Error).message}`);
  }
  if (!st.isDirectory()) throw new UsageError(`${mountpoint}: not a directory`);
  if (readdirSync(mountpoint).length > 0) throw new UsageError(`${mountpoint}: not empty; a mountpoint must be an empty directory`);
  return mountpoint;
}

export interface RunningMount { handle: FuseHandle; fs: RepositoryFs; configured: Configured; stop(): Promise<void>; }

/** Opens the repository, mounts it, starts the talk socket. Returns once the mount answers. */
export async function startMount(r: MountRequest): Promise<RunningMount> {
  const mountpoint = await prepareMountpoint(r.mountpoint);
  const configured = await openConfigured({ name: r.name, configRoot: r.configRoot, overrides: r.overrides, keys: r.keys });
  const { repo, config, fetcher } = configured;
  const maxTtl = config.get("CVMFS_MAX_TTL");
  const fs = await RepositoryFs.create(repo, {
    reopen: configured.reopen,
    host: () => fetcher.currentHost,
    proxy: () => fetcher.currentProxy,
    // The kernel may cache entries and attributes no longer than a revision lives (the catalog TTL).
    kernelCacheMs: 1000 * Math.min((await repo.root()).reader.ttl, config.get("CVMFS_KCACHE_TIMEOUT") !== undefined ? config.number("CVMFS_KCACHE_TIMEOUT", 0) : 60),
    maxTtlMs: maxTtl !== undefined ? 60_000 * config.number("CVMFS_MAX_TTL", 1) : undefined,
    version: r.version,
    log: (m) => log.info(m),
    passthrough: r.passthrough ?? true,
  });
  let handle: FuseHandle;
  try {
    handle = await startFuse(mountpoint, fs, {
      fsname: "cvmfs2", subtype: "cvmfs2", allowOther: r.allowOther ?? process.getuid?.() === 0,
      passthrough: r.passthrough ?? true,
      log: (line) => log.warn(line), verbose: (line) => log.debug(line),
    });
  } catch (err) {
    fs.close();
    configured.cache.close();
    throw err;
  }
  const socket = socketPath(mountpoint);
  const talkServer = serveTalk(socket, (command) => answer(command, fs, configured, handle));
  writeRecord({ mountpoint, fqrn: repo.fqrn, pid: process.pid, socket, started: new Date().toISOString() });
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= (async () => {
    talkServer.stop();
    await handle.stop();
    removeRecord(mountpoint);
    fs.close();
    configured.cache.close();
  })());
  void handle.closed.then(() => stop(), () => stop());
  return { handle, fs, configured, stop };
}

/**
 * The catalogs the mount keeps pinned in the cache, by revision: the current
 * one, and older ones while inodes the kernel holds or open files refer to them.
 */
function pinnedCatalogs(fs: RepositoryFs): string {
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
  const lines = [`pinned catalogs (${plural(fs.inodes, "inode")} held by the kernel):`];
  for (const r of fs.openRevisions()) {
    lines.push(`  revision ${r.revision}${r.current ? " (current)" : ""}: ${plural(r.inodes, "inode")}, ${plural(r.files, "open file")}`);
    for (const c of r.catalogs) lines.push(`    ${c.hash} ${c.path}`);
  }
  return lines.join("\n");
}

/** The talk commands (like cvmfs_talk's). */
async function answer(command: string, fs: RepositoryFs, c: Configured, handle: FuseHandle): Promise<string> {
  const [verb, ...rest] = command.split(/\s+/);
  const arg = rest.join(" ");
  const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
  switch (verb) {
    case "revision":
      return `${fs.revision}`;
    case "remount": {
      const changed = await fs.remount();
      const m = fs.repository.manifest;
      return changed ? `new revision ${m.revision} (${toHex(m.rootHash)})` : `revision ${m.revision} is current`;
    }
    case "host":
      return [`active: ${c.fetcher.currentHost}`, ...c.fetcher.hosts.map((h, i) => `  [${i}] ${h}`)].join("\n");
    case "proxy":
      return `active: ${c.fetcher.currentProxy}`;
    case "cache": {
      const u = c.cache.usage();
      return `${u.dir}\nused ${mb(u.bytes)} in ${u.entries} objects (${u.catalogs} catalogs), ${u.pinned} pinned\nquota ${u.limitBytes === null ? "unlimited" : mb(u.limitBytes)}\n${pinnedCatalogs(fs)}`;
    }
    case "cleanup": {
      if (!/^\d+$/.test(arg)) throw new Error("cleanup needs a size in MB: cleanup <MB>");
      const freed = c.cache.evict(Number(arg) * 1048576);
      return `freed ${mb(freed)}`;
    }
    case "pid":
      return `${process.pid}`;
    case "passthrough":
      return handle.passthrough ? "on" : `off (${handle.passthroughOff})`;
    case "requests":
      return Object.entries(handle.requests).map(([k, v]) => `${k} ${v}`).join("\n");
    case "help":
    case "":
      return "commands: revision, remount, host, proxy, cache, cleanup <MB>, pid, passthrough, requests";
    default:
      throw new Error(`unknown command '${verb}' (try help)`);
  }
}
