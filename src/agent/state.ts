import { closeSync, constants, openSync, rmSync, writeSync } from "node:fs";
import { CvmError } from "../cli/errors";
import type { CommandResult } from "./apply";
import type { RootFs } from "./root";

/**
 * The agent's state under the root: /var/lib/cvm/agent (0700) holds
 * status.json (the last run, what `cvm agent status` prints) and
 * instances/<instance-id>/ with result.json (the run-once marker), the
 * user_data as fetched (0600: it holds passwords and proxies) and the
 * scripts it ran. The log is /var/log/cvm-agent.log (0600), one line per
 * event with per-step timings, never a value from user_data.
 */
export const STATE_DIR = "/var/lib/cvm/agent";
export const LOG_FILE = "/var/log/cvm-agent.log";
export const OUTPUT_LOG = "/var/log/cvm-agent-output.log";

export interface StepResult { name: string; status: "ok" | "failed" | "skipped"; ms: number; error?: string; }
export interface Status {
  status: "running" | "done" | "error";
  instance_id?: string;
  instance_id_from?: "metadata" | "user_data hash" | "--instance-id";
  source?: string;
  started: string;
  finished?: string;
  duration_ms?: number;
  steps: StepResult[];
  commands: CommandResult[];
  warnings: string[];
  errors: string[];
  /** Not recorded for the instance (a command's program was missing or not executable): the next run tries again. */
  retry?: boolean;
}

export const instanceDir = (id: string) => `${STATE_DIR}/instances/${id}`;

export function readStatus(root: RootFs): Status | null {
  const text = root.readText(`${STATE_DIR}/status.json`, 4 << 20);
  if (text === null) return null;
  try {
    return JSON.parse(text) as Status;
  } catch {
    throw new CvmError(`${STATE_DIR}/status.json: not valid JSON (a run was cut short?)`);
  }
}

export function readResult(root: RootFs, id: string): Status | null {
  const text = root.readText(`${instanceDir(id)}/result.json`, 4 << 20);
  if (text === null) return null;
  try { return JSON.parse(text) as Status; } catch { return null; }
}

export function writeStatus(root: RootFs, s: Status, id?: string): void {
  root.mkdirs(STATE_DIR, 0o700);
  const text = JSON.stringify(s, null, 2) + "\n";
  root.write(`${STATE_DIR}/status.json`, text, 0o600);
  if (id && s.status !== "running") {
    root.mkdirs(instanceDir(id), 0o700);
    root.write(`${instanceDir(id)}/result.json`, text, 0o600);
  }
}

/** The run-once marker removed (a --force run that must be tried again). */
export function forgetResult(root: RootFs, id: string): void {
  rmSync(root.resolve(`${instanceDir(id)}/result.json`, "keep"), { force: true });
}

/** Appends lines to a log under the root (0600, created on first use, never through a link). */
export class AgentLog {
  private fd: number | undefined;
  constructor(private readonly root: RootFs, private readonly path: string) {}

  private open(): number {
    if (this.fd === undefined) {
      this.root.mkdirs(this.path.slice(0, this.path.lastIndexOf("/")) || "/", 0o755);
      this.fd = openSync(this.root.resolve(this.path, "keep"), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    }
    return this.fd;
  }

  get descriptor(): number {
    return this.open();
  }

  line(text: string): void {
    writeSync(this.open(), `${new Date().toISOString()} cvm-agent[${process.pid}]: ${text}\n`);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
