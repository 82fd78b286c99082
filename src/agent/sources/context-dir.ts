import { join } from "node:path";
import { isIPv4 } from "node:net";
import { CvmError } from "../../cli/errors";
import { escapeName } from "../../cli/output";
import { decodeBase64 } from "../decode";
import { networkFromCloudInit } from "../network/from-nocloud";
import { networkFromOpenNebula } from "../network/from-opennebula";
import { networkFromOpenStack } from "../network/from-openstack";
import type { Problems } from "../problems";
import { parseContextSh } from "./context-sh";
import { readSmallFile } from "./read-file";
import { CONTEXT_FILE_MAX, type SourceResult } from "./types";

/**
 * A context disk's files (a mounted CD/config drive, or any directory given
 * with --context): OpenNebula/HEPiX `context.sh`, the OpenStack config drive
 * (`openstack/latest/user_data` + `meta_data.json`), HEPiX's EC2 layout
 * (`ec2/latest/user-data` + `meta-data.json`), NoCloud (`user-data` +
 * `meta-data`, `network-config`). Null when the directory holds none of them.
 * The network configuration each gives is read into the network model
 * (src/agent/network), every value checked.
 */
export function readContextDir(dir: string, problems: Problems): SourceResult | null {
  const read = (rel: string) => readSmallFile(join(dir, rel), CONTEXT_FILE_MAX);

  const contextSh = read("context.sh");
  // latin1: one character per byte, so USER_DATA keeps the bytes it was given
  if (contextSh) return fromOpenNebula(contextSh.toString("latin1"), join(dir, "context.sh"), problems);

  const osUserData = read("openstack/latest/user_data");
  const osMeta = read("openstack/latest/meta_data.json");
  if (osUserData || osMeta) {
    const meta = json(osMeta, join(dir, "openstack/latest/meta_data.json"));
    const netPath = join(dir, "openstack/latest/network_data.json");
    const netData = read("openstack/latest/network_data.json");
    return {
      name: `OpenStack config drive ${dir}`, userData: osUserData,
      instanceId: str(meta.uuid), hostname: str(meta.hostname),
      publicKeys: keyLines(meta.public_keys),
      network: netData ? networkFromOpenStack(json(netData, netPath), netPath, warn(problems)) ?? undefined : undefined,
    };
  }

  const ec2UserData = read("ec2/latest/user-data");
  const ec2Meta = read("ec2/latest/meta-data.json");
  if (ec2UserData || ec2Meta) {
    const meta = json(ec2Meta, join(dir, "ec2/latest/meta-data.json"));
    const keys = meta["public-keys"];
    return {
      name: `EC2-style context disk ${dir}`, userData: ec2UserData,
      instanceId: str(meta["instance-id"]), hostname: str(meta["local-hostname"] ?? meta.hostname),
      publicKeys: Array.isArray(keys) ? keys.filter((k): k is string => typeof k === "string") : [],
    };
  }

  const userData = read("user-data");
  const metaData = read("meta-data");
  if (userData || metaData) {
    const metaPath = join(dir, "meta-data");
    const meta = yamlMapping(metaData, metaPath);
    if (meta["network-interfaces"] !== undefined) problems.warn(metaPath, undefined, "network-interfaces (the old ENI format): not supported; give network-config instead");
    const netPath = join(dir, "network-config");
    const netData = read("network-config");
    return {
      name: `NoCloud seed ${dir}`, userData,
      instanceId: str(meta["instance-id"]), hostname: str(meta["local-hostname"]) ?? str(meta.hostname),
      publicKeys: keyLines(meta["public-keys"]),
      network: netData ? networkFromCloudInit(yaml(netData, netPath), netPath, warn(problems)) ?? undefined : undefined,
    };
  }
  return null;
}

const warn = (problems: Problems) => (s: string) => problems.warn("network", undefined, s);

/**
 * Public keys as cloud-init takes them from any source: a string of lines, a
 * list, or a mapping whose values are either; blank and `#` lines dropped,
 * each line trimmed (nova's values end in a newline).
 */
export function keyLines(v: unknown): string[] {
  const out: string[] = [];
  const add = (x: unknown) => {
    if (typeof x === "string") for (const l of x.split(/\r?\n/)) { const t = l.trim(); if (t && !t.startsWith("#")) out.push(t); }
    else if (Array.isArray(x)) x.forEach(add);
  };
  if (v && typeof v === "object" && !Array.isArray(v)) Object.values(v).forEach(add);
  else add(v);
  return out;
}

function fromOpenNebula(text: string, where: string, problems: Problems): SourceResult {
  const vars = parseContextSh(text, problems, where);
  let userData: Uint8Array | null = null;
  if (vars.has("EC2_USER_DATA")) {
    userData = decodeBase64(vars.get("EC2_USER_DATA")!, `${where}: EC2_USER_DATA`);
  } else {
    const name = vars.has("USER_DATA") ? "USER_DATA" : vars.has("USERDATA") ? "USERDATA" : undefined;
    if (name) {
      // exact, as OpenNebula and cloud-init compare it: any other value leaves the data as it is
      const encName = vars.has("USERDATA_ENCODING") ? "USERDATA_ENCODING" : "USER_DATA_ENCODING";
      const encoding = vars.get(encName);
      if (encoding === "base64") userData = decodeBase64(vars.get(name)!, `${where}: ${name}`);
      else {
        if (encoding) problems.warn(where, undefined, `${encName} '${escapeName(encoding.slice(0, 20))}': only 'base64' (exactly) is an encoding; ${name} taken as it is`);
        userData = Buffer.from(vars.get(name)!, "latin1");
      }
    }
  }
  // SSH_KEY first, as cloud-init reads it; PUBLIC_KEY is HEPiX's
  const keyVar = ["SSH_KEY", "SSH_PUBLIC_KEY", "PUBLIC_KEY"].find((k) => vars.has(k));
  const vmid = vars.get("VMID");
  return {
    name: `OpenNebula context.sh ${where}`, userData,
    instanceId: vmid ? `one-${vmid}` : undefined,
    hostname: hostnameOf(vars),
    publicKeys: keyVar ? keyLines(vars.get(keyVar)) : [],
    network: networkFromOpenNebula(vars, where) ?? undefined,
  };
}

/**
 * The first of SET_HOSTNAME, HOSTNAME, PUBLIC_IP, IP_PUBLIC, ETH0_IP that is
 * set, as cloud-init takes it; an IPv4 address becomes `ip-10-0-0-5`, the
 * name cloud-init makes of one.
 */
function hostnameOf(vars: Map<string, string>): string | undefined {
  for (const k of ["SET_HOSTNAME", "HOSTNAME", "PUBLIC_IP", "IP_PUBLIC", "ETH0_IP"]) {
    const v = vars.get(k)?.trim();
    if (v) return isIPv4(v) ? `ip-${v.replace(/\./g, "-")}` : v;
  }
  return undefined;
}

export function json(bytes: Buffer | null, where: string): Record<string, unknown> {
  if (!bytes) return {};
  try {
    const v = JSON.parse(bytes.toString("utf8"));
    if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch { /* reported below */ }
  throw new CvmError(`${where}: not a JSON object`);
}

const str = (v: unknown) => (typeof v === "string" && v ? v : typeof v === "number" ? String(v) : undefined);

/** A YAML document (block or flow style); malformed YAML is one line naming the file. */
export function yaml(bytes: Buffer, where: string): unknown {
  try {
    return Bun.YAML.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new CvmError(`${where}: not valid YAML (${(err as Error).message.replace(/^YAML Parse error: /, "")})`);
  }
}

/** NoCloud meta-data: a YAML mapping (empty: none). */
function yamlMapping(bytes: Buffer | null, where: string): Record<string, unknown> {
  if (!bytes) return {};
  const v = yaml(bytes, where);
  if (v === null || v === undefined) return {};
  if (typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
  throw new CvmError(`${where}: expected a YAML mapping (instance-id: …)`);
}
