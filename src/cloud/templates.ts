import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../cli/errors";
import { configDir } from "../sys/config";
import type { Region } from "./regions";

/**
 * user_data templates: `[cernvm]` INI in the form the agent reads, with
 * ${VAR} and ${VAR:-default}. The built-in ones are embedded in the binary;
 * a file of the same name in ~/.config/cvm/templates/ overrides one.
 */
export interface Template { name: string; description: string; text: string; source: string; }

const BUILT_IN_DIR = import.meta.url.includes("/$bunfs/") ? join(import.meta.dir, "templates") : join(import.meta.dir, "..", "..", "templates");
const userTemplateDir = (env = process.env) => join(configDir(env), "templates");

function readDir(dir: string): Template[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith(".ini")).map((f) => {
    const text = readFileSync(join(dir, f), "utf8");
    const description = (/^#\s*(.+)$/m.exec(text)?.[1] ?? "").trim();
    return { name: f.slice(0, -4), description, text, source: join(dir, f) };
  });
}

export function listTemplates(env = process.env): Template[] {
  const byName = new Map<string, Template>();
  for (const t of [...readDir(BUILT_IN_DIR), ...readDir(userTemplateDir(env))]) byName.set(t.name, t);
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export function findTemplate(name: string, env = process.env): Template {
  const t = listTemplates(env).find((x) => x.name === name);
  if (!t) throw new UsageError(`unknown template '${name}'; available: ${listTemplates(env).map((x) => x.name).join(", ")}`);
  return t;
}

/** `NAME` or `NAME:N` (--template panda-wn:10). */
export function parseTemplateSpec(spec: string): { name: string; count?: number } {
  const m = /^([A-Za-z0-9_.-]+)(?::(\d+))?$/.exec(spec);
  if (!m || (m[2] !== undefined && Number(m[2]) < 1)) throw new UsageError(`--template '${spec}': expected NAME or NAME:COUNT`);
  return { name: m[1], count: m[2] === undefined ? undefined : Number(m[2]) };
}

/** Variables for a template: the region's name and defaults, then its own variables (regions.ini), under what --set gives. */
export function templateVariables(region: Region, set: Record<string, string>): Record<string, string> {
  const d = region.defaults;
  const fromRegion: Record<string, string | undefined> = { REGION: region.name, INSTANCE_TYPE: d.instanceType, KEY: d.key, GROUP: d.group, KERNEL: d.kernel };
  return { ...Object.fromEntries(Object.entries(fromRegion).filter((e): e is [string, string] => e[1] !== undefined)), ...region.variables, ...set };
}

/**
 * Fills ${VAR} and ${VAR:-default} (defaults may hold variables); comment lines are dropped.
 * A variable with no value is an error; `region` names where else the value could come from.
 */
export function renderTemplate(t: Template, vars: Record<string, string>, region?: { name: string; file: string }): string {
  const missing = new Set<string>();
  const expand = (s: string): string =>
    s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-((?:[^{}]|\{[^{}]*\})*))?\}/g, (_, name: string, fallback?: string) => {
      if (vars[name] !== undefined) return vars[name];
      if (fallback !== undefined) return expand(fallback);
      missing.add(name);
      return "";
    });
  const out = t.text.split("\n").filter((l) => !/^\s*[#;]/.test(l)).map(expand).join("\n").trim() + "\n";
  if (missing.size) {
    const first = [...missing][0];
    throw new UsageError(`template ${t.name}: no value for ${[...missing].map((m) => "${" + m + "}").join(", ")}${region ? ` in region ${region.name}` : ""}; give --set ${first}=VALUE${region ? `, or ${first} = VALUE in [${region.name}] of ${region.file}` : ""}`);
  }
  return out;
}
