import { existsSync, mkdtempSync, rmdirSync } from "node:fs";
import { CvmError } from "../../cli/errors";
import type { Problems } from "../problems";
import { readContextDir } from "./context-dir";
import type { SourceResult } from "./types";

/** Labels of the disks that carry context: OpenNebula, NoCloud, OpenStack config drive. */
const LABELS = ["CONTEXT", "cidata", "CIDATA", "config-2", "CONFIG-2"];

const MOUNT = ["/usr/bin/mount", "/bin/mount"].find((p) => existsSync(p)) ?? "mount";
const UMOUNT = ["/usr/bin/umount", "/bin/umount"].find((p) => existsSync(p)) ?? "umount";

function run(argv: string[], timeoutMs: number): { ok: boolean; stderr: string } {
  const p = Bun.spawnSync({ cmd: argv, stdin: "ignore", stdout: "ignore", stderr: "pipe", timeout: timeoutMs, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } });
  return { ok: p.exitCode === 0, stderr: p.stderr.toString().trim().split("\n")[0] ?? "" };
}

/**
 * On the real root only: the first labelled context disk, mounted read-only
 * (nosuid, nodev, noexec) on a private directory, read, and unmounted.
 * Null when no such disk is attached.
 */
export function readContextDisk(problems: Problems, note: (s: string) => void): SourceResult | null {
  for (const label of LABELS) {
    const dev = `/dev/disk/by-label/${label}`;
    if (!existsSync(dev)) continue;
    const dir = mkdtempSync("/run/cvm-agent-context-");
    const mounted = run([MOUNT, "-o", "ro,nosuid,nodev,noexec", dev, dir], 10_000);
    if (!mounted.ok) {
      rmdirSync(dir);
      note(`context disk ${dev}: cannot mount: ${mounted.stderr}`);
      continue;
    }
    try {
      const r = readContextDir(dir, problems);
      if (r) return { ...r, name: `${r.name.replace(dir, dev)}` };
      note(`context disk ${dev}: no context files on it`);
    } finally {
      const u = run([UMOUNT, dir], 10_000);
      if (u.ok) rmdirSync(dir);
      else if (!u.ok) throw new CvmError(`context disk ${dev}: cannot unmount ${dir}: ${u.stderr}`);
    }
  }
  return null;
}
