import { createHash } from "node:crypto";
import { CvmError } from "../cli/errors";
import { log } from "../cli/log";
import { escapeName } from "../cli/output";
import { applyStep, ended, type ApplyEnv } from "./apply";
import { describeExit, start } from "./exec";
import { OutputFollower } from "./follow";
import { lock } from "./lock";
import { INSTANCE_ID } from "./names";
import type { PlanContext } from "./plan";
import { planUserData } from "./planner";
import { formatProblem, Problems } from "./problems";
import { RootFs } from "./root";
import { findSource, type SourceOptions } from "./sources/index";
import type { SourceResult } from "./sources/types";
import { AgentLog, LOG_FILE, OUTPUT_LOG, STATE_DIR, forgetResult, instanceDir, readResult, writeStatus, type Status, type StepResult } from "./state";
import { decodeUserData, type Script, type UserData } from "./userdata";

export interface AgentOptions extends Omit<SourceOptions, "hostRoot"> {
  root: string;
  dryRun: boolean;
  force: boolean;
  instanceId?: string;
  commandWaitMs: number;
  scriptTimeoutMs: number;
  /** Stay until the contextualization commands end, echoing their output (prefixed) to stderr. */
  follow?: boolean;
}

/** Everything up to the plan; shared by the run, --dry-run and `validate`. */
export interface Prepared { root: RootFs; source: SourceResult; ud: UserData; problems: Problems; instanceId: string; idFrom: Status["instance_id_from"]; }

export function instanceIdOf(source: SourceResult, bytes: Uint8Array, given?: string): { id: string; from: Status["instance_id_from"] } {
  const id = given ?? source.instanceId;
  if (id !== undefined) {
    if (!INSTANCE_ID.test(id)) throw new CvmError(`instance id '${escapeName(id.slice(0, 60))}'${given ? " (--instance-id)" : " from the metadata"}: expected letters, digits, '.', '_' and '-'`);
    return { id, from: given ? "--instance-id" : "metadata" };
  }
  return { id: "ud-" + createHash("sha256").update(bytes).digest("hex").slice(0, 16), from: "user_data hash" };
}

/**
 * `cvm agent`: the first source that answers → user_data decoded → the plan
 * (every problem found before anything is touched: one error and nothing is
 * applied) → once per instance id: scripts before, the plugins' steps,
 * scripts after, each timed and logged; status.json and the run-once marker
 * last. Returns the exit code.
 */
export async function runAgent(o: AgentOptions): Promise<number> {
  const t0 = performance.now();
  const started = new Date();
  const root = new RootFs(o.root);
  const problems = new Problems();
  const agentLog = o.dryRun ? undefined : new AgentLog(root, LOG_FILE);
  // under systemd with stderr on the journal (JOURNAL_STREAM, systemd.exec(5)) every line goes there too; else with -v
  const journal = !!process.env.JOURNAL_STREAM;
  const say = (s: string) => { agentLog?.line(s); if (journal) process.stderr.write(s + "\n"); else log.debug(s); };
  /** A run refused before anything was applied: what status.json says of it. */
  const refusal = (errors: string[], more: Partial<Status> = {}): Status =>
    ({ status: "error", started: started.toISOString(), finished: new Date().toISOString(), duration_ms: ms(t0), steps: [], commands: [], warnings: [], errors, ...more });
  let unlock: (() => void) | undefined;
  try {
    if (!o.dryRun) { root.mkdirs(STATE_DIR, 0o700); unlock = lock(root, `${STATE_DIR}/run`); }
    say(`started (root ${root.root}${o.force ? ", --force" : ""})`);
    let source: SourceResult;
    try {
      source = await findSource({ ...o, hostRoot: root.isHostRoot }, problems, say);
    } catch (err) {
      say(`no user_data: ${(err as Error).message}`);
      if (!o.dryRun) writeStatus(root, refusal([(err as Error).message]));
      throw err;
    }
    const bytes = source.userData ?? new Uint8Array();
    say(`source: ${source.name}: ${source.userData ? `${bytes.length} bytes of user_data` : "no user_data"} (${ms(t0)} ms)`);
    const { id, from } = instanceIdOf(source, bytes, o.instanceId);
    if (!o.dryRun && !o.force) {
      const prev = readResult(root, id);
      if (prev) {
        say(`instance ${id}: contextualized already (${prev.finished ?? prev.started}, ${prev.status}); nothing to do`);
        log.info(`instance ${id} was contextualized already (${prev.finished ?? prev.started}, ${prev.status}); --force runs it again`);
        return 0;
      }
    }
    let ud: UserData, ctx: PlanContext;
    try {
      ud = decodeUserData(bytes, problems);
      ctx = await planUserData(root, ud, { instanceId: source.instanceId, hostname: source.hostname, publicKeys: source.publicKeys, network: source.network }, problems);
    } catch (err) {
      // undecodable user_data, or a path the agent refuses to follow: said in the log and status, nothing applied
      if (!o.dryRun && err instanceof CvmError) {
        say(`refused: ${err.message}; nothing applied`);
        writeStatus(root, refusal([err.message], { instance_id: id, instance_id_from: from, source: source.name }));
      }
      throw err;
    }
    const warnings = problems.warnings.map(formatProblem);
    const errors = problems.errors.map(formatProblem);
    for (const w of warnings) { log.warn(w); agentLog?.line(`warning: ${w}`); }
    for (const n of ud.notes) say(`note: ${n}`);
    if (errors.length) {
      for (const e of errors.slice(0, -1)) process.stderr.write(`cvm: ${e}\n`);
      if (!o.dryRun) {
        for (const e of errors) agentLog?.line(`error: ${e}`);
        writeStatus(root, refusal(errors, { instance_id: id, instance_id_from: from, source: source.name, warnings }));
        say(`refused: ${errors.length} problem${errors.length > 1 ? "s" : ""} in user_data; nothing applied`);
      }
      throw new CvmError(`${errors[errors.length - 1]}${errors.length > 1 ? ` (${errors.length} problems; nothing applied)` : " (nothing applied)"}`);
    }
    if (o.dryRun) {
      const { formatPlan } = await import("./print-plan");
      process.stdout.write(formatPlan(ctx, { source: source.name, instanceId: id, idFrom: from!, scripts: ud.scripts, notes: ud.notes, scriptDir: `${instanceDir(id)}/scripts` }));
      return 0;
    }
    return await apply(root, ctx, ud, { id, from, source, bytes, started, t0, warnings, agentLog: agentLog!, say, o });
  } finally {
    unlock?.();
    agentLog?.close();
  }
}

const ms = (t0: number) => Math.round((performance.now() - t0) * 10) / 10;

interface ApplyArgs {
  id: string; from: Status["instance_id_from"]; source: SourceResult; bytes: Uint8Array; started: Date; t0: number;
  warnings: string[]; agentLog: AgentLog; say: (s: string) => void; o: AgentOptions;
}

async function apply(root: RootFs, ctx: PlanContext, ud: UserData, a: ApplyArgs): Promise<number> {
  const { id, say } = a;
  const status: Status = { status: "running", instance_id: id, instance_id_from: a.from, source: a.source.name, started: a.started.toISOString(), steps: [], commands: [], warnings: a.warnings, errors: [] };
  const dir = instanceDir(id);
  root.mkdirs(`${dir}/scripts`, 0o700);
  if (a.source.userData) root.write(`${dir}/user-data`, a.bytes, 0o600);
  writeStatus(root, status);
  let output: AgentLog | undefined;
  const follower = new OutputFollower();
  const env: ApplyEnv = {
    root, accounts: ctx.accounts, outputFd: () => (output ??= new AgentLog(root, OUTPUT_LOG)).descriptor, commandWaitMs: a.o.commandWaitMs,
    commands: status.commands, running: [], follower, follow: !!a.o.follow,
  };
  const step = async (name: string, work: () => Promise<void> | void, empty: boolean) => {
    const t = performance.now();
    const r: StepResult = { name, status: empty ? "skipped" : "ok", ms: 0 };
    if (!empty) {
      try {
        await work();
      } catch (err) {
        r.status = "failed";
        r.error = err instanceof CvmError ? err.message : `${(err as Error).message}`;
        status.errors.push(`${name}: ${r.error}`);
      }
    }
    r.ms = ms(t);
    status.steps.push(r);
    say(`step ${name}: ${r.status}${r.error ? `: ${r.error}` : ""} (${r.ms} ms)`);
  };
  try {
    const before = ud.scripts.filter((s) => s.when === "before"), after = ud.scripts.filter((s) => s.when === "after");
    await step("scripts-before", () => runScripts(root, before, "before", dir, id, env, a.o.scriptTimeoutMs), !before.length);
    for (const s of ctx.steps) await step(s.name, () => applyStep(s, env), !s.actions.some((x) => x.kind !== "note"));
    await step("scripts-after", () => runScripts(root, after, "after", dir, id, env, a.o.scriptTimeoutMs), !after.length);
  } finally {
    output?.close();
  }
  status.status = status.errors.length ? "error" : "done";
  status.finished = new Date().toISOString();
  status.duration_ms = ms(a.t0);
  // a command whose program was missing (a repository not there yet): not recorded, so the next boot runs it all again
  const retry = status.commands.some((c) => c.retry);
  if (retry) status.retry = true;
  writeStatus(root, status, retry ? undefined : id);
  if (retry) forgetResult(root, id);
  const failed = status.steps.filter((s) => s.status === "failed");
  const running = env.running.filter((r) => r.result.running);
  say(`instance ${id}: ${status.status} in ${status.duration_ms} ms (${status.steps.filter((s) => s.status !== "skipped").length} steps, ${failed.length} failed${running.length ? `, ${running.length} command${running.length > 1 ? "s" : ""} still running` : ""})`);
  for (const f of failed) process.stderr.write(`cvm: step ${f.name}: ${f.error}\n`);
  if (!a.o.follow || !running.length) {
    follower.stop();
    for (const r of running) r.proc.unref();
    return failed.length ? 1 : 0;
  }
  // --follow: the agent stays until its commands end, and says how each ended (status.json too)
  say(`following ${running.length} command${running.length > 1 ? "s" : ""} until ${running.length > 1 ? "they end" : "it ends"}`);
  let late = 0;
  await Promise.all(running.map(async (r) => {
    await r.proc.exited;
    ended(r, follower, true);
    const e = r.result.error ?? (r.result.exit ? `exit ${r.result.exit}` : undefined);
    say(`command ${r.result.path} (as ${r.result.user}) ended: ${describeExit(r.proc.exitCode, r.proc.signalCode)}`);
    if (e) { late++; status.errors.push(`commands: ${r.result.path} (as ${r.result.user}): ${e}`); status.status = "error"; }
    writeStatus(root, status, retry ? undefined : id);
  }));
  follower.stop();
  return failed.length || late ? 1 : 0;
}

async function runScripts(root: RootFs, scripts: Script[], when: "before" | "after", dir: string, id: string, env: ApplyEnv, timeoutMs: number): Promise<void> {
  for (const [i, s] of scripts.entries()) {
    const path = `${dir}/scripts/${String(i + 1).padStart(2, "0")}-${when}`;
    root.write(path, s.text, 0o700);
    const { proc, failure } = start(root, { uid: 0, gid: 0, groups: [0], path, args: [], env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/root", LANG: "C.UTF-8", INSTANCE_ID: id } }, env.outputFd(), true);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = await Promise.race([proc.exited.then(() => false), new Promise<boolean>((r) => { timer = setTimeout(() => r(true), timeoutMs); })]);
    clearTimeout(timer);
    if (timedOut) {
      try { process.kill(-proc.pid, "SIGKILL"); } catch { /* ended meanwhile */ }
      throw new CvmError(`script ${i + 1} (${s.where} line ${s.line}): still running after ${timeoutMs / 1000} s; killed`);
    }
    const why = await failure;
    if (proc.exitCode !== 0) throw new CvmError(`script ${i + 1} (${s.where} line ${s.line}): ${why ?? (proc.signalCode ? `killed by ${proc.signalCode}` : `exit ${proc.exitCode}`)}`);
  }
}
