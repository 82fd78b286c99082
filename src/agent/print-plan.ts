import { escapeName } from "../cli/output";
import { octalMode } from "../sys/mode";
import { unifiedDiff } from "./diff";
import type { Action, PlanContext } from "./plan";
import type { Script } from "./userdata";

/** `--dry-run`: the plan as text, files with diffs, secrets never shown. */
export function formatPlan(ctx: PlanContext, o: { source: string; instanceId: string; idFrom: string; scripts: Script[]; notes: string[]; scriptDir: string }): string {
  const out: string[] = [];
  out.push(`source: ${o.source}`, `instance: ${o.instanceId} (${o.idFrom})`, `root: ${ctx.root.root}`);
  for (const n of o.notes) out.push(`note: ${n}`);
  const scripts = (when: "before" | "after") => o.scripts.filter((s) => s.when === when).forEach((s, i) => {
    out.push(`step scripts-${when}:`, `  run script ${i + 1} from ${s.where} line ${s.line} (${escapeName(s.text.toString("utf8").split("\n", 1)[0])}) as root, written 0700 to ${o.scriptDir}/${String(i + 1).padStart(2, "0")}-${when}`);
  });
  scripts("before");
  for (const step of ctx.steps) {
    if (!step.actions.length) { out.push(`step ${step.name}: nothing to do`); continue; }
    out.push(`step ${step.name}:`);
    for (const a of step.actions) out.push(...describe(a).map((l) => "  " + l));
  }
  scripts("after");
  return out.join("\n") + "\n";
}

const owner = (uid: number, gid: number) => `${uid}:${gid}`;

function describe(a: Action): string[] {
  switch (a.kind) {
    case "mkdir": return [`mkdir ${a.path} (${octalMode(a.mode)} ${owner(a.uid, a.gid)})`];
    case "file": {
      const head = `write ${a.path} (${octalMode(a.mode)} ${owner(a.uid, a.gid)}${a.before === null ? ", new" : ""})`;
      if (a.secret) return [`${head}: ${typeof a.content === "string" ? Buffer.byteLength(a.content) : a.content.length} bytes, secret, not shown`];
      const diff = unifiedDiff(a.path, a.before, typeof a.content === "string" ? a.content : Buffer.from(a.content).toString("utf8"));
      return [head, ...diff.trimEnd().split("\n").map((l) => "  " + l)];
    }
    case "symlink": return [`link ${a.path} -> ${a.target}`];
    case "accounts": return [
      ...a.groups.map((g) => `add group ${g.name} (gid ${g.gid}) to /etc/group`),
      ...a.users.map((u) => `add user ${u.name} (uid ${u.uid}, group ${u.group} ${u.gid}, home ${u.home}, shell ${u.shell}, password ${u.password.kind === "set" ? "set, stored hashed" : "locked"}) to /etc/passwd and /etc/shadow`),
    ];
    case "home": return [`make home ${a.path} (0700 ${a.user}, from /etc/skel)`];
    case "hostname": return [`set the host name to ${a.name}`];
    case "service": return [`systemctl enable --now --no-block ${a.unit}${a.found ? "" : " (no unit file found)"}`];
    case "mount": return [`mount ${a.fqrn} on ${a.path} (cvm mount, the configuration above)`];
    case "command": return [`run ${a.path}${a.args.map((x) => " " + escapeName(x)).join("")} as ${a.user} (uid ${a.uid}, gid ${a.gid}, groups ${a.groups.join(",")}), directly, environment: ${Object.keys(a.env).join(" ")}`];
    case "note": return [a.text];
  }
}
