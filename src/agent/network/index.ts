import { readdirSync } from "node:fs";
import { join } from "node:path";
import { CvmError } from "../../cli/errors";
import { Problems, formatProblem } from "../problems";
import { json, yaml } from "../sources/context-dir";
import { parseContextSh } from "../sources/context-sh";
import { readSmallFile } from "../sources/read-file";
import { CONTEXT_FILE_MAX } from "../sources/types";
import { networkFromCloudInit } from "./from-nocloud";
import { networkFromOpenNebula } from "./from-opennebula";
import { networkFromOpenStack } from "./from-openstack";
import { checkNetwork, type NetworkConfig, type SystemNic } from "./model";

export type { NetworkConfig, SystemNic } from "./model";
export { liveSteps, resolvConf, type LiveSteps } from "./render-ip";

/**
 * The network configuration of a context directory (a mounted context disk:
 * OpenNebula context.sh, OpenStack config drive, NoCloud seed, in the order
 * the agent looks for them), checked against the system's interfaces when
 * given: what the appliance calls at boot before applying it with
 * `liveSteps`. Only the network files are read, so a user_data problem does
 * not keep the network down. Null network: the context gives none. A
 * hostile or malformed value throws CvmError (one line); what is left out
 * (a bond, an unknown type) is in `warnings`.
 */
export function networkFromContextDir(dir: string, nics?: SystemNic[]): { network: NetworkConfig | null; warnings: string[] } {
  const problems = new Problems();
  const warn = (s: string) => problems.warn("network", undefined, s);
  const read = (rel: string) => readSmallFile(join(dir, rel), CONTEXT_FILE_MAX);
  let network: NetworkConfig | null = null;
  const contextSh = read("context.sh");
  if (contextSh) {
    const where = join(dir, "context.sh");
    const vars = parseContextSh(contextSh.toString("latin1"), problems, where);
    if (problems.errors.length) throw new CvmError(formatProblem(problems.errors[0]));
    network = networkFromOpenNebula(vars, where);
  } else if (read("openstack/latest/user_data") || read("openstack/latest/meta_data.json")) {
    const where = join(dir, "openstack/latest/network_data.json");
    const data = read("openstack/latest/network_data.json");
    network = data ? networkFromOpenStack(json(data, where), where, warn) : null;
  } else if (!read("ec2/latest/user-data") && !read("ec2/latest/meta-data.json")) {
    const where = join(dir, "network-config");
    const data = read("network-config");
    network = data ? networkFromCloudInit(yaml(data, where), where, warn) : null;
  }
  return { network: network && checkNetwork(network, nics), warnings: problems.warnings.map(formatProblem) };
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
