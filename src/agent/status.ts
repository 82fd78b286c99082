import type { Status } from "./state";

/** `cvm agent status`: what ran, when, how long each step took, what failed. */
export function formatStatus(s: Status | null): string {
  if (!s) return "status: not run\n";
  const out = [`status: ${s.status}${s.status === "done" && s.warnings.length ? " (with warnings)" : ""}`];
  if (s.instance_id) out.push(`instance: ${s.instance_id} (${s.instance_id_from})`);
  if (s.source) out.push(`source: ${s.source}`);
  out.push(`started: ${s.started}`);
  if (s.finished) out.push(`finished: ${s.finished} (${s.duration_ms} ms)`);
  if (s.steps.length) {
    out.push("steps:");
    const w = Math.max(...s.steps.map((x) => x.name.length));
    for (const x of s.steps) out.push(`  ${x.name.padEnd(w)}  ${x.status.padEnd(7)}  ${x.ms.toFixed(1).padStart(7)} ms${x.error ? `  ${x.error}` : ""}`);
  }
  if (s.commands.length) {
    out.push("commands:");
    for (const c of s.commands) {
      out.push(`  ${c.path} as ${c.user}: ${c.error ? `failed: ${c.error}${c.retry ? " (tried again at the next boot)" : ""}` : c.running ? `still running (pid ${c.pid})` : `exit ${c.exit}`}`);
      if (c.log) out.push(`    output: ${c.log}`);
    }
  }
  for (const w of s.warnings) out.push(`warning: ${w}`);
  for (const e of s.errors) out.push(`error: ${e}`);
  if (s.retry) out.push(`not recorded as contextualized: a command's program is missing or not executable; the next boot (cvm agent) tries again`);
  return out.join("\n") + "\n";
}

/** As `cloud-init status`: 0 done (or not run yet, or running), 1 a failure, 2 done with warnings (recoverable). */
export function statusExitCode(s: Status | null): number {
  if (!s || s.status === "running") return 0;
  if (s.status === "error") return 1;
  return s.warnings.length ? 2 : 0;
}
