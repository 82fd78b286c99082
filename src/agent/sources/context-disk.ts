import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { CvmError } from "../../cli/errors";
import { escapeName } from "../../cli/output";
import type { Problems } from "../problems";
import { readContextDir } from "./context-dir";
import { readDiskLabel, type DiskFsType } from "./disk-label";
import { readSmallFile } from "./read-file";
import type { SourceResult } from "./types";

/** Labels of the disks that carry context, in the order they are tried: OpenNebula, NoCloud, OpenStack config drive. */
export const CONTEXT_LABELS = ["CONTEXT", "cidata", "CIDATA", "config-2", "CONFIG-2"];

/** Where mount(8) is: util-linux's, or busybox's /bin/mount in an initramfs. */
const TOOL_DIRS = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];
const findTool = (name: string) => TOOL_DIRS.map((d) => `${d}/${name}`).find((p) => existsSync(p)) ?? name;

/** No machine has this many block devices; a sysfs that lists more is not read further. */
const MAX_DEVICES = 1024;

export interface DiskOptions {
  sysRoot?: string;   // where sysfs is [/sys]; tests give a tree of their own
  devRoot?: string;   // where the device nodes are [/dev]
  runDir?: string;    // where the disk is mounted for reading [/run]
}

interface Candidate { dev: string; label: string; type?: DiskFsType; }

function run(argv: string[], timeoutMs: number): { ok: boolean; stderr: string } {
  const p = Bun.spawnSync({ cmd: argv, stdin: "ignore", stdout: "ignore", stderr: "pipe", timeout: timeoutMs, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } });
  return { ok: p.exitCode === 0, stderr: escapeName(p.stderr.toString().trim().split("\n")[0] || (p.signalCode ? `killed by ${p.signalCode}` : `exit ${p.exitCode}`)) };
}

/**
 * On the real root only: the first context disk, by label, mounted read-only
 * (nosuid, nodev, noexec, with the type read from the disk) on a private
 * directory, read, and unmounted. Disks are found through udev's
 * /dev/disk/by-label links where they exist and, for machines without udev,
 * by reading the label of every block device sysfs lists (disks and
 * partitions); one disk found both ways is tried once. A disk that cannot be
 * read, mounted or parsed is one line on `note` and in `tried`, and the next
 * one is tried. Null when none gave a source.
 */
export function readContextDisk(problems: Problems, note: (s: string) => void, tried: string[], o: DiskOptions = {}): SourceResult | null {
  const candidates = findContextDisks(note, o);
  const mount = findTool("mount"), umount = findTool("umount");
  for (const c of candidates) {
    const what = `context disk ${c.dev} (${c.type ?? "type unknown"}, label ${c.label})`;
    const fail = (why: string) => { note(`${what}: ${why}`); tried.push(`${what}: ${why}`); };
    const runDir = o.runDir ?? "/run";
    mkdirSync(runDir, { recursive: true, mode: 0o755 });
    const dir = mkdtempSync(join(runDir, "cvm-agent-context-"));
    const mounted = run([mount, ...(c.type ? ["-t", c.type] : []), "-o", "ro,nosuid,nodev,noexec", c.dev, dir], 10_000);
    if (!mounted.ok) {
      rmdirSync(dir);
      fail(`cannot mount: ${mounted.stderr}`);
      continue;
    }
    try {
      const r = readContextDir(dir, problems);
      if (r) {
        note(`${what}: read`);
        return { ...r, name: r.name.replace(dir, c.dev) };
      }
      fail("no context files on it");
    } catch (err) {
      if (!(err instanceof CvmError)) throw err;
      fail(err.message.replaceAll(dir, c.dev));
    } finally {
      const u = run([umount, dir], 10_000);
      if (u.ok) rmdirSync(dir);
      else throw new CvmError(`${what}: cannot unmount ${dir}: ${u.stderr}`);
    }
  }
  return null;
}

/** Context disks by label priority: by-label links first, then every block device in sysfs with a context label. */
export function findContextDisks(note: (s: string) => void, o: DiskOptions = {}): Candidate[] {
  const devRoot = o.devRoot ?? "/dev", sysRoot = o.sysRoot ?? "/sys";
  const seen = new Set<number>();
  const found: Candidate[] = [];
  const add = (dev: string, rdev: number, label: string, type: DiskFsType | undefined) => {
    if (seen.has(rdev)) return;
    seen.add(rdev);
    found.push({ dev, label, type });
  };

  for (const label of CONTEXT_LABELS) {
    const link = `${devRoot}/disk/by-label/${label}`;
    let dev: string, rdev: number;
    try {
      dev = realpathSync(link);
      const st = statSync(dev);
      if (!st.isBlockDevice()) { note(`${link}: not a block device; skipped`); continue; }
      rdev = st.rdev;
    } catch {
      continue; // no such link (or it dangles)
    }
    let type: DiskFsType | undefined;
    try { type = readDiskLabel(dev)?.type; } catch { /* mount(8) finds the type, or says why not */ }
    add(dev, rdev, label, type);
  }

  let names: string[];
  try {
    names = readdirSync(`${sysRoot}/class/block`).sort();
  } catch (err) {
    note(`${sysRoot}/class/block: cannot list block devices: ${(err as Error).message}`);
    names = [];
  }
  if (names.length > MAX_DEVICES) {
    note(`${sysRoot}/class/block: ${names.length} block devices; only the first ${MAX_DEVICES} are read`);
    names = names.slice(0, MAX_DEVICES);
  }
  for (const name of names) {
    // the floppy driver retries an empty drive for seconds; context never comes on one
    if (/^fd\d/.test(name)) continue;
    const dev = `${devRoot}/${name}`;
    const shown = escapeName(dev);
    try {
      const sys = `${sysRoot}/class/block/${name}`;
      const number = /^(\d{1,4}):(\d{1,7})$/.exec(readSmallFile(`${sys}/dev`, 64)?.toString("latin1").trim() ?? "");
      if (!number) continue;
      // an empty CD-ROM drive or an unused loop device has no sectors
      if (!Number(readSmallFile(`${sys}/size`, 64)?.toString("latin1").trim())) continue;
      const st = statSync(dev, { throwIfNoEntry: false });
      if (!st) { note(`${shown}: no device node (block device ${number[0]}); skipped`); continue; }
      if (!st.isBlockDevice() || major(st.rdev) !== Number(number[1]) || minor(st.rdev) !== Number(number[2])) {
        note(`${shown}: not block device ${number[0]}; skipped`);
        continue;
      }
      if (seen.has(st.rdev)) continue;
      const l = readDiskLabel(dev);
      if (l && CONTEXT_LABELS.includes(l.label)) add(dev, st.rdev, l.label, l.type);
    } catch (err) {
      note(`${shown}: ${err instanceof CvmError ? err.message.replace(`${dev}: `, "") : (err as Error).message}; skipped`);
    }
  }
  return found.sort((a, b) => CONTEXT_LABELS.indexOf(a.label) - CONTEXT_LABELS.indexOf(b.label));
}

// Linux's dev_t encoding (glibc's gnu_dev_major/minor)
const major = (rdev: number) => Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn));
const minor = (rdev: number) => Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn));
