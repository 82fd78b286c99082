import type { Subprocess } from "bun";
import { CvmError } from "../cli/errors";
import { cvmSelf } from "../sys/self";
import { EXEC_AS_VARIABLE, type ExecAsSpec } from "./exec-as";
import type { RootFs } from "./root";

/**
 * Runs a program from user_data: directly (execve of the path, never a
 * shell), inside the root (so paths, /etc/passwd and libraries are the
 * guest's), as a uid:gid with exactly the given groups, in the environment
 * given and nothing else, stdin from /dev/null, output to the agent's output
 * log. No chroot(1) is needed: the child is cvm itself (exec-as.ts), which
 * does the chroot, setgroups, setgid and setuid and says on a pipe which one
 * failed. Needs root, as the agent at boot is.
 */
export interface RunAs { uid: number; gid: number; groups: number[]; path: string; args: string[]; env: Record<string, string>; }

export interface Started {
  proc: Subprocess;
  /** Settles when the program has started (undefined) or could not be (the line saying why: `setuid 1000: …`). */
  failure: Promise<string | undefined>;
}

/** Exit codes of the child when the program never ran: 125 entering the root or switching user failed, 126 the program cannot be run, 127 there is none. */
export const EXIT_SETUP = 125, EXIT_CANNOT_RUN = 126, EXIT_NOT_FOUND = 127;

export function start(root: RootFs, o: RunAs, outputFd: number, detached: boolean): Started {
  if (process.getuid?.() !== 0) throw new CvmError(`${o.path}: running commands needs root (the agent runs as uid ${process.getuid?.()})`);
  const spec: ExecAsSpec = { root: root.root, uid: o.uid, gid: o.gid, groups: [...new Set([o.gid, ...o.groups])], path: o.path, args: o.args, env: o.env };
  const proc = Bun.spawn({
    cmd: cvmSelf(), env: { [EXEC_AS_VARIABLE]: JSON.stringify(spec) }, cwd: "/",
    stdin: "ignore", stdout: outputFd, stderr: "pipe", detached,
  });
  const failure = new Response(proc.stderr).text().then((t) => t.trim().split("\n")[0].slice(0, 500) || undefined, () => undefined);
  return { proc, failure };
}

/** How a program that ran ended. */
export function describeExit(code: number | null, signal: string | number | null): string {
  return signal ? `killed by ${signal}` : `exit ${code}`;
}

export interface ProgramProblem { message: string; /** missing or not executable: it may be there at the next boot (/cvmfs not mounted yet) */ retry: boolean; }

/**
 * Checks what the kernel would refuse, with a clear message: the program must
 * exist inside the root as an executable regular file (links followed under
 * the root's rules), not writable by others.
 */
export function checkProgram(root: RootFs, path: string, who?: { uid: number; gid: number; groups: number[] }): ProgramProblem | undefined {
  const refuse = (message: string, retry = false) => ({ message, retry });
  let st;
  try {
    st = root.lstat(path, "follow");
  } catch (err) {
    return refuse((err as Error).message);
  }
  if (who && who.uid !== 0) {
    // every directory on the way must be searchable by the user (a test root from mktemp is 0700)
    const resolved = root.resolveGuest(path, "follow");
    const dirs = ["/", ...resolved.split("/").filter(Boolean).slice(0, -1).map((_, i, a) => "/" + a.slice(0, i + 1).join("/"))];
    for (const d of dirs) {
      const ds = root.lstat(d, "follow");
      if (!ds) break;
      const bit = ds.uid === who.uid ? 0o100 : who.groups.includes(ds.gid) || ds.gid === who.gid ? 0o010 : 0o001;
      if (!(ds.mode & bit)) return refuse(`${path}: uid ${who.uid} cannot reach it (${d === "/" ? `the root ${root.root}` : d} is mode ${(ds.mode & 0o7777).toString(8).padStart(4, "0")})`);
    }
  }
  if (!st) return refuse(`${path}: no such file in the root`, true);
  if (!st.isFile()) return refuse(`${path}: not a regular file`);
  if (!(st.mode & 0o111)) return refuse(`${path}: not executable`, true);
  if (st.mode & 0o002) return refuse(`${path}: writable by anyone; refused`);
  return undefined;
}
