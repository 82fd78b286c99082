import { readdirSync } from "node:fs";
import { join } from "node:path";
import { CvmError } from "../../cli/errors";
import { Problems, formatProblem } from "../problems";
import { readContextDir } from "../sources/context-dir";
import { readSmallFile } from "../sources/read-file";
import { checkNetwork, type NetworkConfig, type SystemNic } from "./model";

export type { NetworkConfig, SystemNic } from "./model";
export { liveSteps, resolvConf, type LiveSteps } from "./render-ip";

/**
 * The network configuration of a context directory (a mounted context disk:
 * OpenNebula context.sh, OpenStack config drive, NoCloud seed), checked
 * against the system's interfaces when given: what the appliance calls at
 * boot before applying it with `liveSteps`. Null network: the context has
 * none. A hostile or malformed value throws CvmError (one line); what is
 * left out (a bond, an unknown type) is in `warnings`.
 */
export function networkFromContextDir(dir: string, nics?: SystemNic[]): { network: NetworkConfig | null; warnings: string[] } {
  const problems = new Problems();
  const source = readContextDir(dir, problems);
  if (problems.errors.length) throw new CvmError(formatProblem(problems.errors[0]));
  const network = source?.network ? checkNetwork(source.network, nics) : null;
  return { network, warnings: problems.warnings.map(formatProblem) };
}

/** The physical interfaces of this system (those with a device behind them), by name and MAC. */
export function systemNics(sysClassNet = "/sys/class/net"): SystemNic[] {
  let names: string[];
  try { names = readdirSync(sysClassNet); } catch { return []; }
  const out: SystemNic[] = [];
  for (const name of names.sort()) {
    try { readdirSync(join(sysClassNet, name, "device")); } catch { continue; }
    const mac = readSmallFile(join(sysClassNet, name, "address"), 256)?.toString("latin1").trim().toLowerCase();
    if (mac && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac)) out.push({ name, mac });
  }
  return out;
}
