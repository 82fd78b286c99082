import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FileSink, Subprocess } from "bun";

/**
 * A real server (nginx, squid) run in the foreground under a small sh
 * watchdog, in its own process group so that stopping it also reaches its
 * workers and helpers. Start polls a readiness check with a deadline; stop
 * signals the group, waits for every member to be gone (so the port is free
 * for a restart) and falls back to SIGKILL.
 *
 * Servers must not outlive the tests: the watchdog holds a pipe from us and
 * kills its whole group when that pipe closes, which happens however this
 * process ends (bun test runs no exit hooks, and kill -9 runs nothing).
 */

// $@ is the server's argv, never interpolated. The server gets no stdin; the
// watcher reads ours (fd 3) until EOF. The wrapper ignores the stop signals
// that reach the group so that it stays to reap the server and report its
// status (wait gives 128+N for a signal).
const WATCHDOG = `
exec 3<&0 </dev/null
"$@" 3<&- &
server=$!
{ while read -r _ <&3; do :; done; kill -KILL 0; } &
watcher=$!
exec 3<&-
trap '' TERM INT QUIT
wait "$server"
code=$?
kill "$watcher" 2>/dev/null
exit "$code"
`;

export interface ServerProcessSpec {
  /** For messages: "nginx", "squid". */
  name: string;
  argv: string[];
  /** The server's own temp directory; its stdout/stderr go to <dir>/<name>.out. */
  dir: string;
  port: number;
  /** True once the server (in process group `group`) answers; polled until startTimeoutMs. */
  ready: (group: number) => Promise<boolean>;
  /** Removed before each start: one left by a killed instance must not stop (squid) or fool (our readiness check) the next. */
  pidFile: string;
  /** The server's own log, quoted in start failures. */
  log: () => string;
  startTimeoutMs: number;
  /** The signal that asks for a quick, clean shutdown. */
  stopSignal: NodeJS.Signals;
  /** How long the clean shutdown may take before SIGKILL. */
  stopTimeoutMs: number;
}

const POLL_MS = 20;
const live = new Set<ServerProcess>();
const ownedDirs = new Set<string>();

process.on("exit", () => {
  for (const server of live) server.killNow();
  for (const dir of ownedDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * Registers a server's temp directory: removed by remove(), by the exit hook,
 * or, when this process died without either, by the next process that loads
 * this module (the directory names its owner's pid).
 */
export function ownTempDir(dir: string): void {
  writeFileSync(join(dir, OWNER), String(process.pid));
  ownedDirs.add(dir);
}

const OWNER = ".owner-pid";

function sweepOrphanedTempDirs(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!/^cvm-(nginx|squid)-/.test(name)) continue;
    const dir = join(tmpdir(), name);
    const owner = Number(readIfPresent(join(dir, OWNER)));
    // Its servers died with their owner (the watchdog saw to that); only the files are left.
    if (!(owner > 0) || existsSync(`/proc/${owner}`)) continue;
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // another user's directory: not ours to remove
    }
  }
}

function readIfPresent(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

sweepOrphanedTempDirs();

export function releaseTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  ownedDirs.delete(dir);
}

export class ServerProcess {
  private proc: Subprocess | undefined;
  /** The watchdog's stdin: closing it (or our death) kills the group. */
  private lifeline: FileSink | undefined;
  private stopping: Promise<void> | undefined;

  constructor(readonly spec: ServerProcessSpec) {}

  get running(): boolean {
    return this.proc !== undefined;
  }

  /** The live processes of its group (watchdog, server, workers); empty once stopped. */
  processes(): number[] {
    return this.proc ? groupMembers(this.proc.pid) : [];
  }

  get outputFile(): string {
    return join(this.spec.dir, `${this.spec.name}.out`);
  }

  /** Starts the server and resolves once it answers; rejects with the server's log if it exits or stays silent. */
  async start(): Promise<void> {
    if (this.stopping) await this.stopping;
    if (this.proc) return;
    rmSync(this.spec.pidFile, { force: true });
    const out = openSync(this.outputFile, "a");
    let proc: Subprocess<"pipe", number, number>;
    try {
      proc = Bun.spawn(["/bin/sh", "-c", WATCHDOG, "watchdog", ...this.spec.argv], { detached: true, stdin: "pipe", stdout: out, stderr: out, cwd: this.spec.dir });
    } finally {
      closeSync(out);
    }
    // Bun waits for its children before exiting; a forgotten server must not hang the run (the watchdog ends it instead).
    proc.unref();
    this.proc = proc;
    this.lifeline = proc.stdin;
    live.add(this);
    let exitCode: number | null = null;
    void proc.exited.then((code) => (exitCode = code));
    const deadline = performance.now() + this.spec.startTimeoutMs;
    for (;;) {
      if (exitCode !== null) {
        await this.stop();
        throw this.failure(`exited with status ${exitCode} while starting`);
      }
      if (await this.spec.ready(proc.pid)) return;
      if (performance.now() > deadline) {
        await this.stop();
        throw this.failure(`did not answer on 127.0.0.1:${this.spec.port} within ${this.spec.startTimeoutMs / 1000} s`);
      }
      await Bun.sleep(POLL_MS);
    }
  }

  /** Stops the server and every process of its group; safe to call again, or while another stop runs. */
  stop(): Promise<void> {
    this.stopping ??= this.stopGroup().finally(() => (this.stopping = undefined));
    return this.stopping;
  }

  /** SIGKILL to the whole group at once (a crash, and the fastest stop), then the same wait as stop(). */
  kill(): Promise<void> {
    this.killNow();
    return this.stop();
  }

  /** Synchronous last resort for the exit hook. */
  killNow(): void {
    if (this.proc) signalGroup(this.proc.pid, "SIGKILL");
  }

  private async stopGroup(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    const group = proc.pid;
    signalGroup(group, this.spec.stopSignal);
    if (!(await exitsWithin(proc, this.spec.stopTimeoutMs))) {
      signalGroup(group, "SIGKILL");
      await proc.exited;
    }
    // The watchdog has reaped the server; anything else of the group (a worker
    // whose master was killed, the watcher) must be gone before the port is free.
    const deadline = performance.now() + this.spec.stopTimeoutMs;
    while (groupMembers(group).length > 0) {
      if (performance.now() > deadline) {
        signalGroup(group, "SIGKILL");
        if (performance.now() > deadline + 2000) throw new Error(`${this.spec.name}: processes ${groupMembers(group).join(", ")} of group ${group} survive SIGKILL`);
      }
      await Bun.sleep(POLL_MS);
    }
    void this.lifeline?.end();
    this.lifeline = undefined;
    this.proc = undefined;
    live.delete(this);
  }

  private failure(what: string): Error {
    const own = this.spec.log().trim();
    const out = existsSync(this.outputFile) ? readFileSync(this.outputFile, "utf8").trim() : "";
    const logs = [own, out].filter(Boolean).join("\n").split("\n").slice(-30).join("\n");
    return new Error(`${this.spec.name} (${this.spec.argv.join(" ")}) ${what}; its log:\n${logs || "(empty)"}`);
  }
}

function signalGroup(group: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-group, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
  }
}

function exitsWithin(proc: Subprocess, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void proc.exited.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Live (non-zombie) processes of a process group, from /proc. Zombies are left
 * out: an orphaned worker that died is reaped by init (or, in containers whose
 * PID 1 does not reap, never), and it no longer holds any port either way.
 */
export function groupMembers(group: number): number[] {
  return readdirSync("/proc").filter((entry) => /^\d+$/.test(entry) && liveGroupOf(Number(entry)) === group).map(Number);
}

/** The process group of a live (non-zombie) process; undefined when it is gone or a zombie. */
export function liveGroupOf(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined; // exited while we looked
  }
  // "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[0] === "Z" || fields[0] === "X" ? undefined : Number(fields[2]);
}

/** The path of a server binary: PATH first, then the sbin directories a non-root PATH often lacks. */
export function serverBinary(name: string): string | undefined {
  return Bun.which(name) ?? ["/usr/sbin", "/sbin", "/usr/local/sbin"].map((d) => join(d, name)).find((p) => existsSync(p));
}

/**
 * Whether the named server binaries are installed. Missing ones skip the tests
 * locally; under CVM_REQUIRE_TOOLS=1 (CI) they fail the run, as test/helpers/tools.ts does.
 */
export function haveServers(...names: string[]): boolean {
  const missing = names.filter((n) => !serverBinary(n));
  if (missing.length && process.env.CVM_REQUIRE_TOOLS === "1") throw new Error(`required servers missing: ${missing.join(", ")} (test/system-deps.sh installs them)`);
  return missing.length === 0;
}
