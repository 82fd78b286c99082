import { UsageError } from "./errors";
import type { ArgsDef } from "citty";

/**
 * Option checks citty does not do: unknown options, string options with no
 * value, and stray positional arguments are usage errors (exit 2), not silently
 * ignored. Also accepts the Globus spelling of long options with one dash
 * (`-valid 1:00`, `-pwstdin`), rewritten to `--valid` before parsing.
 */

interface OptionInfo { type: "boolean" | "string"; }

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

function optionTable(argsDef: ArgsDef): Map<string, OptionInfo> {
  const table = new Map<string, OptionInfo>();
  for (const [name, def] of Object.entries(argsDef)) {
    if (def.type === "positional") continue;
    const info: OptionInfo = { type: def.type === "boolean" ? "boolean" : "string" };
    const aliases = "alias" in def && def.alias ? (Array.isArray(def.alias) ? def.alias : [def.alias]) : [];
    for (const n of [name, kebab(name), ...aliases]) table.set(n, info);
  }
  return table;
}

function positionalCount(argsDef: ArgsDef): number {
  return Object.values(argsDef).filter((d) => d.type === "positional").length;
}

const isNumber = (t: string) => /^-\d/.test(t);

/** Rewrite `-valid` to `--valid` where `valid` is a long option of this command. */
export function normalizeSingleDash(tokens: string[], argsDef: ArgsDef): string[] {
  const table = optionTable(argsDef);
  const out: string[] = [];
  let rest = false;
  for (const t of tokens) {
    if (t === "--") rest = true;
    const m = !rest && /^-([A-Za-z][\w-]+)(=.*)?$/.exec(t);
    out.push(m && table.has(m[1]) ? "-" + t : t);
  }
  return out;
}

export function checkOptions(tokens: string[], argsDef: ArgsDef, opts: { variadic?: boolean } = {}): void {
  const table = optionTable(argsDef);
  const maxPositionals = positionalCount(argsDef);
  let positionals = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === "--") { positionals += tokens.length - i - 1; break; }
    if (t.startsWith("--")) {
      const [name, inline] = splitInline(t.slice(2));
      const negated = name.startsWith("no-") && table.get(name.slice(3))?.type === "boolean";
      const info = table.get(name);
      if (!info && !negated) throw new UsageError(`unknown option --${name}`);
      if (info?.type === "string" && inline === undefined) {
        if (i + 1 >= tokens.length) throw new UsageError(`option --${name} needs a value`);
        i++;
      }
    } else if (t.startsWith("-") && t.length > 1 && !isNumber(t)) {
      const [flags, inline] = splitInline(t.slice(1));
      for (let k = 0; k < flags.length; k++) {
        const info = table.get(flags[k]);
        if (!info) throw new UsageError(`unknown option -${flags.length > 1 ? flags : flags[k]}`);
        if (info.type === "string") {
          // -fFILE, -f=FILE or -f FILE: the rest of the token (or the next one) is the value
          if (k === flags.length - 1 && inline === undefined) {
            if (i + 1 >= tokens.length) throw new UsageError(`option -${flags[k]} needs a value`);
            i++;
          }
          break;
        }
      }
    } else {
      positionals++;
    }
    if (positionals > maxPositionals && !opts.variadic) throw new UsageError(`unexpected argument '${t}'`);
  }
}

function splitInline(s: string): [string, string | undefined] {
  const eq = s.indexOf("=");
  return eq < 0 ? [s, undefined] : [s.slice(0, eq), s.slice(eq + 1)];
}

/**
 * The boolean flags among `names` in the order the user gave them (Globus tools
 * print single fields in command-line order). Accepts `--x` and `-x`.
 */
export function flagsInOrder(tokens: string[], names: Record<string, string>): string[] {
  const out: string[] = [];
  for (const t of tokens) {
    if (t === "--") break;
    const key = t.replace(/^--?/, "");
    if (t.startsWith("-") && key in names) out.push(names[key]);
  }
  return out;
}

/** Every value of a repeatable string option (`--tag a --tag b`), in order. */
export function allValues(tokens: string[], names: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === "--") break;
    const m = /^--?([\w-]+)(?:=(.*))?$/.exec(t);
    if (!m || !names.includes(m[1])) continue;
    if (m[2] !== undefined) out.push(m[2]);
    else if (i + 1 < tokens.length) out.push(tokens[++i]);
  }
  return out;
}

/** Every KEY=VALUE given to a repeatable option (`--tag a=b --tag c=d`); anything else is a usage error. */
export function keyValues(tokens: string[], name: string): [string, string][] {
  return allValues(tokens, [name]).map((kv) => {
    const eq = kv.indexOf("=");
    if (eq < 1) throw new UsageError(`--${name} '${kv}': expected KEY=VALUE`);
    return [kv.slice(0, eq), kv.slice(eq + 1)];
  });
}

/** A `--name N` value that must be a whole number ≥ 1 (and at most `max` when given). */
export function positiveInteger(value: string, name: string, max?: number): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || (max !== undefined && Number(value) > max))
    throw new UsageError(`--${name} '${value}': expected a whole number from 1${max !== undefined ? ` to ${max}` : ""}`);
  return Number(value);
}
