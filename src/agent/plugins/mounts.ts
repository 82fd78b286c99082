import { readdirSync, readFileSync } from "node:fs";
import type { PlanContext } from "../plan";
import type { RootFs } from "../root";
import type { Plugin } from "./types";

/**
 * The repositories of the user_data (`repositories`, `extra_repositories`,
 * `[cvmfs] CVMFS_REPOSITORIES`, gathered by the cvmfs plugin) mounted on
 * /cvmfs/<fqrn> with cvm's own mount, after the configuration is written and
 * before services and the contextualization commands, each one a step of its
 * own (`mount <fqrn>`, timed). Only on the real root, and only when the
 * system has no automounter for /cvmfs (autofs reads the configuration at
 * the first access, so there the mounts are left to it). Under another
 * --root the plan says what would be mounted and nothing is.
 */
export const mounts: Plugin = {
  name: "mounts",
  group: "cernvm",
  keys: {},
  plan(ctx: PlanContext) {
    const repos = [...new Set(ctx.repositories)];
    if (!repos.length) return;
    if (!ctx.root.isHostRoot) {
      for (const fqrn of repos) ctx.add({ kind: "note", text: `would mount ${fqrn} on /cvmfs/${fqrn} (cvm mount) on the real root; --root is not /, so not mounted` });
      return;
    }
    const auto = automounterFor(ctx.root);
    if (auto) {
      ctx.add({ kind: "note", text: `${repos.join(", ")}: left to the automounter (${auto})` });
      return;
    }
    const mounted = mountPoints();
    let first = true;
    for (const fqrn of repos) {
      // the plugin's own step becomes the first repository's: one step, with its time, per mount
      if (first) ctx.rename(`mount ${fqrn}`); else ctx.begin(`mount ${fqrn}`);
      first = false;
      const path = `/cvmfs/${fqrn}`;
      if (mounted.has(path)) ctx.add({ kind: "note", text: `${path}: mounted already` });
      else ctx.add({ kind: "mount", fqrn, path });
    }
  },
};

/** The mount points of the running system (/proc/mounts' second field, octal escapes decoded). */
function mountPoints(): Map<string, string> {
  const out = new Map<string, string>();
  let text = "";
  try { text = readFileSync("/proc/mounts", "utf8"); } catch { /* no /proc: nothing known to be mounted */ }
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    if (f.length > 2) out.set(f[1].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))), f[2]);
  }
  return out;
}

/**
 * Why /cvmfs is the automounter's, or undefined: it is an autofs mount now
 * (autofs or a systemd automount unit), or autofs is configured for it
 * (/etc/auto.master, /etc/auto.master.d/*.autofs name /cvmfs as a mount point).
 */
export function automounterFor(root: RootFs): string | undefined {
  if (mountPoints().get("/cvmfs") === "autofs") return "/cvmfs is an autofs mount";
  const maps = ["/etc/auto.master"];
  try {
    const d = root.resolve("/etc/auto.master.d", "follow");
    for (const name of readdirSync(d).sort()) if (name.endsWith(".autofs")) maps.push(`/etc/auto.master.d/${name}`);
  } catch { /* no such directory */ }
  for (const map of maps) {
    let text: string | null = null;
    try { text = root.readText(map, 1 << 20); } catch { /* unreadable: not autofs's either */ }
    if (text?.split("\n").some((l) => l.trim().split(/\s+/)[0]?.replace(/\/+$/, "") === "/cvmfs")) return `${map} names /cvmfs`;
  }
  return undefined;
}
