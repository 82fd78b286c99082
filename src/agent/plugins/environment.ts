import { escapeName } from "../../cli/output";
import { splitList } from "../ini";
import { ENV_NAME, dangerousEnvName, hasControl } from "../names";
import type { PlanContext } from "../plan";
import { ShellConfig, shellQuote } from "../shell-config";
import type { Plugin } from "./types";

const PROFILE = "/etc/profile.d/cvm.sh";

/**
 * `environment = A=x,B=y` → /etc/profile.d/cvm.sh (`export A='x'`, for login
 * shells) and /etc/environment (pam_env, for every session), and into the
 * environment of the contextualization commands. Items are trimmed (so
 * `A=1, B=2` sets B, not ` B`). Values are written literally and quoted:
 * `$(…)` and backquotes are never run (a warning says so); quotes,
 * backslashes and control characters cannot be written safely to both files
 * and are refused. Names that make shells or the loader run code (LD_*,
 * BASH_ENV, …) are refused.
 */
export const environment: Plugin = {
  name: "environment",
  group: "cernvm",
  keys: { cernvm: { environment: "KEY=VALUE,… → /etc/profile.d/cvm.sh, /etc/environment and the commands' environment" } },
  plan(ctx: PlanContext) {
    const s = ctx.section("cernvm");
    const value = s.get("environment");
    if (value === undefined) return;
    const vars = new Map<string, string>();
    for (const item of splitList(value)) {
      const eq = item.indexOf("=");
      const name = eq < 0 ? item : item.slice(0, eq).trim();
      if (eq < 0 || !ENV_NAME.test(name)) { s.error("environment", `'${escapeName(name.slice(0, 40))}': expected NAME=VALUE with a name of letters, digits and _`); continue; }
      if (dangerousEnvName(name)) { s.error("environment", `${name}: refused (it would make shells or the dynamic loader run code)`); continue; }
      const v = item.slice(eq + 1).trim();
      if (hasControl(v) || /['"\\]/.test(v)) { s.error("environment", `${name}: the value has quotes, backslashes or control characters, which cannot be written safely`); continue; }
      if (/\$|`/.test(v)) s.warn("environment", `${name}: '$' and '\`' are written literally; nothing is expanded or run`);
      if (vars.has(name)) s.warn("environment", `${name} given twice; the last one counts`);
      vars.set(name, v);
    }
    if (!vars.size) return;
    for (const [k, v] of vars) ctx.environment.set(k, v);
    const profile = ["# Environment from user_data (cvm agent); rewritten on each contextualization", ...[...vars].map(([k, v]) => `export ${k}=${shellQuote(v)}`)].join("\n") + "\n";
    ctx.dirs("/etc/profile.d");
    ctx.file(PROFILE, profile, { mode: 0o644 });
    const env = ShellConfig.parse(ctx.root.readText("/etc/environment", 1 << 20));
    for (const [k, v] of vars) env.set(k, v);
    ctx.file("/etc/environment", env.render());
  },
};
