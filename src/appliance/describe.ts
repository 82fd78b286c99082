import { formatBytes } from "../sys/http";
import type { BuildResult } from "./build";
import { qemuCommand } from "./qemu";

/** What `cvm appliance build` prints: each file with its size and time, then how to boot it. */
export function describeBuild(r: BuildResult): string {
  const lines = [`kernel ${r.kernel.version} (${r.kernel.path}), ${r.modules} modules${r.builtin.length ? ` (built in: ${r.builtin.join(", ")})` : ""}`];
  for (const o of r.outputs) lines.push(`${o.format.padEnd(7)} ${o.path}${o.bytes ? `  ${formatBytes(o.bytes)}` : ""}  (${(o.ms / 1000).toFixed(1)} s)`);
  lines.push(`built in ${(r.ms / 1000).toFixed(1)} s; ${r.manifest}`);
  for (const o of r.outputs) {
    if (o.format === "tree") continue;
    lines.push("", `boot the ${o.format} format under qemu:`, "  " + qemuCommand(o.path, o.format).map(shellWord).join(" "));
  }
  return lines.join("\n") + "\n";
}

const shellWord = (w: string) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);
