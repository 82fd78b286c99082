import { existsSync } from "node:fs";
import type { Subprocess } from "bun";
import { CvmError } from "../cli/errors";
import type { RootFs } from "./root";

/**
 * Runs a program from user_data: directly (execve of the path, never a
 * shell), inside the root (chroot(1), so paths, /etc/passwd and libraries
 * are the guest's), as a uid:gid with exactly the given groups (chroot's
 * --userspec/--groups: setgroups, setgid, setuid), in the environment given
 * and nothing else, stdin from /dev/null, output to the agent's output log.
 * Needs root, as the agent at boot is.
 */
const CHROOT = ["/usr/sbin/chroot", "/usr/bin/chroot", "/sbin/chroot", "/bin/chroot"].find((p) => existsSync(p));

export interface RunAs { uid: number; gid: number; groups: number[]; path: string; args: string[]; env: Record<string, string>; }

export function start(root: RootFs, o: RunAs, outputFd: number, detached: boolean): Subprocess {
  if (!CHROOT) throw new CvmError("chroot(1) not found (coreutils); cannot run commands as another user");
  if (process.getuid?.() !== 0) throw new CvmError(`${o.path}: running commands needs root (the agent runs as uid ${process.getuid?.()})`);
  const groups = [...new Set([o.gid, ...o.groups])].join(",");
  return Bun.spawn({
    cmd: [CHROOT, `--userspec=${o.uid}:${o.gid}`, `--groups=${groups}`, root.root, o.path, ...o.args],
    env: o.env, cwd: root.root, stdin: "ignore", stdout: outputFd, stderr: outputFd, detached,
  });
}

/** chroot(1)'s own exit codes: 125 it failed, 126 the program cannot be run, 127 there is no such program. */
export function describeExit(code: number | null, signal: string | number | null): string {
  if (signal) return `killed by ${signal}`;
  if (code === 125) return "could not enter the root or switch user (chroot exit 125)";
  return `exit ${code}`;
}

/**
 * Checks what the kernel would refuse, with a clear message: the program must
 * exist inside the root as an executable regular file (links followed under
 * the root's rules), not writable by others.
 */
export function checkProgram(root: RootFs, path: string, who?: { uid: number; gid: number; groups: number[] }): string | undefined {
  let st;
  try {
    st = root.lstat(path, "follow");
  } catch (err) {
    return (err as Error).message;
  }
  if (who && who.uid !== 0) {
    // every directory on the way must be searchable by the user (a test root from mktemp is 0700)
    const resolved = root.resolveGuest(path, "follow");
    const dirs = ["/", ...resolved.split("/").filter(Boolean).slice(0, -1).map((_, i, a) => "/" + a.slice(0, i + 1).join("/"))];
    for (const d of dirs) {
      const ds = root.lstat(d, "follow");
      if (!ds) break;
      const bit = ds.uid === who.uid ? 0o100 : who.groups.includes(ds.gid) || ds.gid === who.gid ? 0o010 : 0o001;
      if (!(ds.mode & bit)) return `${path}: uid ${who.uid} cannot reach it (${d === "/" ? `the root ${root.root}` : d} is mode ${(ds.mode & 0o7777).toString(8).padStart(4, "0")})`;
    }
  }
  if (!st) return `${path}: no such file in the root`;
  if (!st.isFile()) return `${path}: not a regular file`;
  if (!(st.mode & 0o111)) return `${path}: not executable`;
  if (st.mode & 0o002) return `${path}: writable by anyone; refused`;
  return undefined;
}
