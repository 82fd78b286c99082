import { existsSync, readFileSync, readdirSync } from "node:fs";
import { CvmError } from "../../cli/errors";

/** A busybox tool of the appliance, run directly (never through a shell); its failure as one line. */
export function run(cmd: string[], what: string, timeoutMs = 30_000): string {
  const p = Bun.spawnSync({ cmd, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: timeoutMs, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } });
  if (p.exitCode !== 0) {
    const why = p.signalCode ? `killed by ${p.signalCode} after ${timeoutMs / 1000} s` : p.stderr.toString().trim().split("\n").pop() || `exit ${p.exitCode}`;
    throw new CvmError(`${what}: ${why}`);
  }
  return p.stdout.toString();
}

export function isMounted(path: string): boolean {
  return readFileSync("/proc/mounts", "utf8").split("\n").some((l) => l.split(" ")[1] === path);
}

/** What a running system needs beyond what /init mounted. */
export function mountBasics(): void {
  for (const [type, dir, options, mode] of [["devpts", "/dev/pts", "nosuid,noexec,gid=5,mode=620", 0o755], ["tmpfs", "/dev/shm", "nosuid,nodev,mode=1777", 0o1777]] as const) {
    if (isMounted(dir)) continue;
    run(["mkdir", "-p", "-m", mode.toString(8), dir], dir);
    run(["mount", "-t", type, "-o", options, type, dir], `mount ${dir}`);
  }
}

export function setHostname(): void {
  const name = existsSync("/etc/hostname") ? readFileSync("/etc/hostname", "utf8").trim() : "";
  if (/^[a-z0-9][a-z0-9.-]{0,62}$/i.test(name)) run(["hostname", name], "hostname");
}

export const interfaces = () => readdirSync("/sys/class/net").filter((n) => n !== "lo").sort();
