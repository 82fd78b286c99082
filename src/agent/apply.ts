import { chmodSync, copyFileSync, fstatSync, lchownSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { CvmError } from "../cli/errors";
import { writeProxyFile } from "../proxy/file";
import type { Accounts } from "./accounts";
import { writeAccounts } from "./accounts-write";
import { cryptPrefix } from "./crypt";
import { EXIT_CANNOT_RUN, EXIT_NOT_FOUND, checkProgram, describeExit, start } from "./exec";
import type { OutputFollower } from "./follow";
import type { Action, Step } from "./plan";
import { AgentLog } from "./state";
import type { RootFs } from "./root";
import { systemdRunning } from "./systemd";
import { cvmSelf } from "../sys/self";

/** cvm mount gives up by itself well before (its servers' and proxies' timeouts); this is the last resort. */
const MOUNT_TIMEOUT_MS = 180_000;

/** A contextualization command as it went; `retry`: its program was missing or not executable, so the run is not recorded as done. */
export interface CommandResult { user: string; path: string; log?: string; exit?: number; running?: boolean; pid?: number; error?: string; retry?: boolean; }

/** A command the agent started, while it may still be running. */
export interface Running { proc: Subprocess; result: CommandResult; prefix: string; output: string; }

export interface ApplyEnv {
  root: RootFs;
  accounts: Accounts;
  outputFd: () => number;      // the output log, opened on first use
  commandWaitMs: number;       // how long the commands step waits for its commands to end
  commands: CommandResult[];   // filled by the commands step
  running: Running[];          // the commands started, for --follow
  follower: OutputFollower;    // echoes the commands' output to stderr, prefixed
  follow: boolean;             // --follow: each command's end said on stderr too
}

/** Each contextualization command's output file (the agent follows it; the command never writes to a pipe of the agent's). */
export const COMMAND_LOG_DIR = "/var/log/cvm-agent-output";

/** Applies one step's actions in order; the first failure ends the step (thrown as CvmError). */
export async function applyStep(step: Step, env: ApplyEnv): Promise<void> {
  const running: Running[] = [];
  for (const a of step.actions) {
    if (a.kind === "command") {
      const result: CommandResult = { user: a.user, path: a.path };
      env.commands.push(result);
      const problem = checkProgram(env.root, a.path, a);
      if (problem) { result.error = problem.message; result.retry = problem.retry; continue; }
      const name = a.path.slice(a.path.lastIndexOf("/") + 1);
      result.log = `${COMMAND_LOG_DIR}/${String(env.commands.length).padStart(2, "0")}-${name}.log`;
      const prefix = `[${name}]`;
      const log = new AgentLog(env.root, result.log);
      try {
        const offset = fstatSync(log.descriptor).size;
        const { proc, failure } = start(env.root, a, log.descriptor, true);
        const output = env.root.resolve(result.log, "keep");
        env.follower.add(output, prefix, offset);
        // settles once the program runs, or with the line saying what failed before it could
        const why = await failure;
        if (why) {
          const code = await proc.exited;
          result.error = why;
          result.retry = code === EXIT_NOT_FOUND || code === EXIT_CANNOT_RUN;
          continue;
        }
        result.pid = proc.pid;
        running.push({ proc, result, prefix, output });
      } catch (err) {
        result.error = (err as Error).message;
      } finally {
        log.close(); // the child has its own descriptor
      }
      continue;
    }
    applyAction(a, env);
  }
  if (step.name === "commands") {
    await waitForCommands(running, env.commandWaitMs, env.follower, env.follow);
    env.running.push(...running);
  }
  const failed = env.commands.filter((c) => c.error || (c.exit !== undefined && c.exit !== 0));
  if (failed.length) throw new CvmError(failed.map((c) => `${c.path} (as ${c.user}): ${c.error ?? `exit ${c.exit}`}`).join("; "));
}

/** Waits up to `ms` for the commands; those still running then are left running (the pilot runs for hours). */
async function waitForCommands(running: Running[], ms: number, follower: OutputFollower, announce: boolean): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<void>((r) => { timer = setTimeout(r, ms); });
  await Promise.race([Promise.all(running.map((r) => r.proc.exited)), deadline]);
  clearTimeout(timer);
  follower.poll();
  for (const r of running) {
    if (r.proc.exitCode !== null || r.proc.signalCode) ended(r, follower, announce);
    else r.result.running = true;
  }
}

/** A command's end, in its result and (`announce`: --follow) on stderr under its prefix. */
export function ended({ proc, result, prefix, output }: Running, follower: OutputFollower, announce: boolean): void {
  follower.finish(output);
  result.exit = proc.exitCode ?? -1;
  delete result.running;
  if (proc.signalCode) result.error = describeExit(proc.exitCode, proc.signalCode);
  if (announce) follower.say(prefix, `${result.path} (as ${result.user}) ended: ${describeExit(proc.exitCode, proc.signalCode)}`);
}

function applyAction(a: Exclude<Action, { kind: "command" }>, env: ApplyEnv): void {
  const root = env.root;
  switch (a.kind) {
    case "mkdir":
      root.mkdirs(a.path, a.mode, a.uid, a.gid);
      return;
    case "file":
      if (a.proxy) {
        const host = root.resolve(a.path, "keep");
        writeProxyFile(host, typeof a.content === "string" ? a.content : Buffer.from(a.content).toString("latin1"));
        lchownSync(host, a.uid, a.gid);
      } else {
        root.write(a.path, a.content, a.mode, a.uid, a.gid, a.replaceLink ? "keep" : "follow");
      }
      return;
    case "symlink":
      root.symlink(a.path, a.target);
      return;
    case "accounts":
      writeAccounts(root, a.groups, a.users, cryptPrefix(env.accounts.defs.get("ENCRYPT_METHOD")));
      return;
    case "home":
      makeHome(root, a.path, a.uid, a.gid);
      return;
    case "hostname":
      if (root.isHostRoot) writeFileSync("/proc/sys/kernel/hostname", a.name);
      return;
    case "service":
      enableNow(a.unit);
      return;
    case "mount":
      mountRepository(root, a.fqrn, a.path);
      return;
    case "note":
      return;
  }
}

/** A new home: 0700, owned by the user, with a copy of the root's /etc/skel (regular files and directories only). */
function makeHome(root: RootFs, guest: string, uid: number, gid: number): void {
  if (root.lstat(guest, "keep")) return; // appeared since planning: leave it alone
  const home = root.resolve(guest, "keep");
  mkdirSync(home, { mode: 0o700 });
  const skel = root.lstat("/etc/skel", "follow")?.isDirectory() ? root.resolve("/etc/skel", "follow") : undefined;
  let copied = 0;
  const copy = (from: string, to: string, depth: number) => {
    for (const name of readdirSync(from)) {
      if (++copied > 1000 || depth > 8) return;
      const src = join(from, name), dst = join(to, name);
      const st = lstatSync(src);
      if (st.isDirectory()) { mkdirSync(dst, { mode: 0o700 }); copy(src, dst, depth + 1); chmodSync(dst, st.mode & 0o755); lchownSync(dst, uid, gid); }
      else if (st.isFile()) { copyFileSync(src, dst); chmodSync(dst, st.mode & 0o755); lchownSync(dst, uid, gid); }
    }
  };
  if (skel) copy(skel, home, 0);
  chmodSync(home, 0o700);
  lchownSync(home, uid, gid);
}

/**
 * `cvm mount FQRN /cvmfs/FQRN` with this binary and the configuration the
 * agent wrote; it returns once the mount answers, or fails with one line.
 */
function mountRepository(root: RootFs, fqrn: string, path: string): void {
  root.mkdirs(path, 0o755);
  const argv = [...cvmSelf(), "mount", fqrn, root.resolve(path, "follow"), "--config-root", root.resolve("/etc/cvmfs", "follow")];
  // env given as it is now: Bun's spawn otherwise passes the environment the process started with
  const p = Bun.spawnSync({ cmd: argv, env: { ...process.env }, stdin: "ignore", stdout: "ignore", stderr: "pipe", timeout: MOUNT_TIMEOUT_MS });
  if (p.exitCode === 0) return;
  const line = p.stderr.toString().trim().split("\n").pop()?.replace(/^cvm: /, "");
  throw new CvmError(line || (p.signalCode ? `cvm mount: no answer within ${MOUNT_TIMEOUT_MS / 1000} s` : `cvm mount: exit ${p.exitCode}`));
}

function enableNow(unit: string): void {
  if (!systemdRunning(true)) throw new CvmError(`${unit}: systemd is not running; cannot start it`);
  const p = Bun.spawnSync({ cmd: ["systemctl", "enable", "--now", "--no-block", unit], stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 30_000 });
  if (p.exitCode !== 0) throw new CvmError(`systemctl enable --now ${unit}: ${p.stderr.toString().trim().split("\n").pop() || `exit ${p.exitCode}`}`);
}
