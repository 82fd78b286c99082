/**
 * The child side of running a user_data program (see exec.ts): this is cvm
 * itself, started by the agent with CVM_AGENT_EXEC_AS holding what to run.
 * It enters the root and becomes the user with libc through bun:ffi
 * (chroot, chdir, setgroups, setgid, setuid: glibc applies the id changes to
 * every thread of the process), then replaces itself with the program
 * (execve: exactly the environment given, nothing of cvm's). Its stderr is
 * a pipe to the agent: just before execve it puts its stdout (the output
 * log) on fd 2 and keeps the pipe only on a close-on-exec descriptor, so the
 * agent reads EOF when the program starts, or one line naming the call that
 * failed (`setuid 1000: Operation not permitted`) and exit 125 (126: the
 * program cannot be run, 127: there is no such program, as shells say).
 */

export interface ExecAsSpec { root: string; uid: number; gid: number; groups: number[]; path: string; args: string[]; env: Record<string, string>; }

export const EXEC_AS_VARIABLE = "CVM_AGENT_EXEC_AS";

const F_DUPFD_CLOEXEC = 1030;
const ENOENT = 2, ENOTDIR = 20;

export function execAsChild(specText: string): never {
  try {
    return enterAndExec(specText);
  } catch (err) {
    // only reachable with a spec not written by the agent (the variable set by hand): still one line
    require("node:fs").writeSync(2, `${EXEC_AS_VARIABLE}: ${(err as Error).message}\n`);
    process.exit(125);
  }
}

let report = 2;

function enterAndExec(specText: string): never {
  const fail = (line: string, code = 125): never => {
    try { require("node:fs").writeSync(report, line + "\n"); } catch { /* nobody to tell */ }
    process.exit(code);
  };
  let spec: ExecAsSpec;
  try {
    spec = JSON.parse(specText) as ExecAsSpec;
  } catch {
    return fail(`${EXEC_AS_VARIABLE}: not valid JSON`);
  }
  const { dlopen, FFIType: T, ptr, read } = require("bun:ffi") as typeof import("bun:ffi");
  const libc = dlopen("libc.so.6", {
    chroot: { args: [T.ptr], returns: T.i32 },
    chdir: { args: [T.ptr], returns: T.i32 },
    setgroups: { args: [T.u64, T.ptr], returns: T.i32 },
    setgid: { args: [T.u32], returns: T.i32 },
    setuid: { args: [T.u32], returns: T.i32 },
    fcntl: { args: [T.i32, T.i32, T.i32], returns: T.i32 },
    dup2: { args: [T.i32, T.i32], returns: T.i32 },
    execve: { args: [T.ptr, T.ptr, T.ptr], returns: T.i32 },
    strerror: { args: [T.i32], returns: T.cstring },
    __errno_location: { args: [], returns: T.ptr },
  }).symbols;
  const cstr = (s: string) => Buffer.from(`${s}\0`);
  const errno = () => read.i32(libc.__errno_location()!, 0);
  const check = (r: number, what: string) => { if (r !== 0) { const e = errno(); fail(`${what}: ${String(libc.strerror(e))}`, what.startsWith("execve") ? (e === ENOENT || e === ENOTDIR ? 127 : 126) : 125); } };

  check(libc.chroot(cstr(spec.root)), `chroot ${spec.root}`);
  check(libc.chdir(cstr("/")), "chdir /");
  const groups = new Uint32Array(spec.groups);
  check(libc.setgroups(BigInt(groups.length), groups.length ? ptr(groups) : null), `setgroups ${spec.groups.join(",")}`);
  check(libc.setgid(spec.gid), `setgid ${spec.gid}`);
  check(libc.setuid(spec.uid), `setuid ${spec.uid}`);

  // the pipe stays open only on a close-on-exec copy; fd 2 becomes the output log
  report = libc.fcntl(2, F_DUPFD_CLOEXEC, 3);
  if (report < 0) { report = 2; check(-1, "fcntl"); }
  check(libc.dup2(1, 2) === 2 ? 0 : -1, "dup2");
  const strings = [spec.path, ...spec.args].map(cstr), envs = Object.entries(spec.env).map(([k, v]) => cstr(`${k}=${v}`));
  const vector = (items: Buffer[]) => new BigUint64Array([...items.map((b) => BigInt(ptr(b))), 0n]);
  const argv = vector(strings), envp = vector(envs);
  libc.execve(cstr(spec.path), ptr(argv), ptr(envp));
  // execve returned: it failed (the buffers above were alive throughout)
  return check(-1, `execve ${spec.path}`) as never;
}
