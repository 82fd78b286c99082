import { existsSync } from "node:fs";
import type { PlanContext } from "./plan";

/**
 * Enabling units without a running systemd, as `systemctl --root` does: the
 * unit file is looked up where systemd looks, its [Install] section read, and
 * the `.wants/` / `.requires/` links and aliases made in /etc/systemd/system.
 */
const UNIT_DIRS = ["/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"];

/** Systemd manages this machine: the real root, booted with systemd (sd_booted). */
export const systemdRunning = (hostRoot: boolean) => hostRoot && existsSync("/run/systemd/system");

/** The guest path of a unit's file (a template for `name@instance`), or null. */
export function findUnit(ctx: PlanContext, unit: string): string | null {
  const template = unit.replace(/@[^.]+(\.[a-z]+)$/, "@$1");
  for (const dir of UNIT_DIRS)
    for (const name of template === unit ? [unit] : [unit, template]) {
      const path = `${dir}/${name}`;
      try {
        if (ctx.root.lstat(path, "follow")) return path;
      } catch { /* a link the agent does not follow: not this one */ }
    }
  return null;
}

/** The [Install] section: WantedBy, RequiredBy and Alias (space-separated, repeatable). */
export function installSection(text: string): { wantedBy: string[]; requiredBy: string[]; alias: string[] } {
  const out = { wantedBy: [] as string[], requiredBy: [] as string[], alias: [] as string[] };
  let inInstall = false;
  for (const raw of text.split("\n")) {
    const l = raw.trim();
    if (l.startsWith("[")) { inInstall = l === "[Install]"; continue; }
    if (!inInstall || l.startsWith("#") || l.startsWith(";")) continue;
    const m = /^(WantedBy|RequiredBy|Alias)\s*=\s*(.*)$/.exec(l);
    if (!m) continue;
    const names = m[2].split(/\s+/).filter((n) => /^[A-Za-z0-9:_.@-]+$/.test(n));
    (m[1] === "WantedBy" ? out.wantedBy : m[1] === "RequiredBy" ? out.requiredBy : out.alias).push(...names);
  }
  return out;
}

/** Plans the links `systemctl enable` makes for `unit` whose file is `path`. Returns false when it has no [Install] targets. */
export function planEnableLinks(ctx: PlanContext, unit: string, path: string): boolean {
  const text = ctx.root.readText(path, 1 << 20) ?? "";
  const { wantedBy, requiredBy, alias } = installSection(text);
  const links: [string, string][] = [
    ...wantedBy.map((t) => [`/etc/systemd/system/${t}.wants/${unit}`, path] as [string, string]),
    ...requiredBy.map((t) => [`/etc/systemd/system/${t}.requires/${unit}`, path] as [string, string]),
    ...alias.map((a) => [`/etc/systemd/system/${a}`, path] as [string, string]),
  ];
  for (const [link, target] of links) {
    const st = ctx.root.lstat(link, "keep");
    if (st) continue; // enabled already (or something there that systemctl would also keep)
    ctx.dirs(link.slice(0, link.lastIndexOf("/")));
    ctx.add({ kind: "symlink", path: link, target });
  }
  return links.length > 0;
}
