import { escapeName } from "../cli/output";
import { Accounts } from "./accounts";
import { PlanContext, SectionView, type Metadata } from "./plan";
import { AMICONFIG_KEYS, FOREIGN_SECTIONS, PLUGINS, PLUGIN_GROUPS } from "./plugins/index";
import type { Problems } from "./problems";
import type { RootFs } from "./root";
import type { UserData } from "./userdata";

/**
 * Decoded user_data → the plan: which plugins run ([amiconfig] plugins and
 * disabled_plugins), each plugin's validation and actions, and a warning for
 * every section and key nobody reads (with the nearest known key, so a typo
 * is caught).
 */
export async function planUserData(root: RootFs, ud: UserData, meta: Metadata, problems: Problems): Promise<PlanContext> {
  const views = new Map<string, SectionView>();
  for (const [name, section] of ud.ini) views.set(name, new SectionView(section, problems, name));
  const ctx = new PlanContext(root, problems, new Accounts(root), meta, views);
  const enabled = selectPlugins(ctx);
  for (const plugin of PLUGINS) {
    ctx.begin(plugin.name);
    if (!enabled.has(plugin.group)) { ctx.add({ kind: "note", text: `disabled ([amiconfig] disabled_plugins = ${plugin.group})` }); continue; }
    await plugin.plan(ctx);
  }
  reportUnknown(ctx, enabled);
  return ctx;
}

function selectPlugins(ctx: PlanContext): Set<string> {
  const a = ctx.section("amiconfig");
  const enabled = new Set(PLUGIN_GROUPS);
  const names = (key: string) => (a.get(key) ?? "").split(/[\s,]+/).map((n) => n.trim().toLowerCase()).filter(Boolean);
  for (const n of names("plugins")) if (!PLUGIN_GROUPS.includes(n)) a.warn("plugins", `${escapeName(n)}: not a plugin of cvm agent (it has ${PLUGIN_GROUPS.join(", ")}); ignored`);
  for (const n of names("disabled_plugins")) {
    if (!PLUGIN_GROUPS.includes(n)) a.warn("disabled_plugins", `${escapeName(n)}: not a plugin of cvm agent; ignored`);
    enabled.delete(n);
  }
  return enabled;
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

function reportUnknown(ctx: PlanContext, enabled: Set<string>): void {
  const known = new Map<string, Set<string>>([["amiconfig", new Set(Object.keys(AMICONFIG_KEYS))]]);
  const groupOf = new Map<string, string>();
  for (const p of PLUGINS)
    for (const [section, keys] of Object.entries(p.keys)) {
      if (!known.has(section)) known.set(section, new Set());
      for (const k of Object.keys(keys)) known.get(section)!.add(k);
      groupOf.set(section, p.group);
    }
  for (const [name, view] of ctx.sections) {
    const section = view.section;
    if (!section) continue;
    const where = section.where, line = section.line;
    if (FOREIGN_SECTIONS.has(name)) { ctx.problems.warn(where, line, `[${name}]: amiconfig's ${name} plugin is not part of cvm agent; section ignored`); continue; }
    const keys = known.get(name);
    if (!keys) { ctx.problems.warn(where, line, `[${escapeName(name)}]: unknown section; ignored`); continue; }
    if (groupOf.has(name) && !enabled.has(groupOf.get(name)!)) { ctx.problems.warn(where, line, `[${name}]: the ${groupOf.get(name)} plugin is disabled; section ignored`); continue; }
    if (keys.has("*")) continue;
    for (const e of section.entries.values()) {
      if (keys.has(e.key)) continue;
      const near = [...keys].map((k) => [k, distance(k, e.key)] as const).sort((x, y) => x[1] - y[1])[0];
      const hint = near && near[1] <= 2 ? ` (did you mean ${near[0]}?)` : "";
      ctx.problems.warn(e.where, e.line, `[${name}] ${escapeName(e.rawKey)}: unknown key; ignored${hint}`);
    }
  }
}
