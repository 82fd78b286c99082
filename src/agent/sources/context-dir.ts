import { join } from "node:path";
import { CvmError } from "../../cli/errors";
import { decodeBase64 } from "../decode";
import type { Problems } from "../problems";
import { parseContextSh } from "./context-sh";
import { readSmallFile } from "./read-file";
import { CONTEXT_FILE_MAX, type SourceResult } from "./types";

/**
 * A context disk's files (a mounted CD/config drive, or any directory given
 * with --context): OpenNebula/HEPiX `context.sh`, the OpenStack config drive
 * (`openstack/latest/user_data` + `meta_data.json`), HEPiX's EC2 layout
 * (`ec2/latest/user-data` + `meta-data.json`), NoCloud (`user-data` +
 * `meta-data`). Null when the directory holds none of them.
 */
export function readContextDir(dir: string, problems: Problems): SourceResult | null {
  const read = (rel: string) => readSmallFile(join(dir, rel), CONTEXT_FILE_MAX);

  const contextSh = read("context.sh");
  if (contextSh) return fromOpenNebula(contextSh.toString("utf8"), join(dir, "context.sh"), problems);

  const osUserData = read("openstack/latest/user_data");
  const osMeta = read("openstack/latest/meta_data.json");
  if (osUserData || osMeta) {
    const meta = json(osMeta, join(dir, "openstack/latest/meta_data.json"));
    const keys = meta.public_keys && typeof meta.public_keys === "object" ? Object.values(meta.public_keys as Record<string, unknown>) : [];
    return {
      name: `OpenStack config drive ${dir}`, userData: osUserData,
      instanceId: str(meta.uuid), hostname: str(meta.hostname),
      publicKeys: keys.filter((k): k is string => typeof k === "string"),
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
    const meta = simpleYaml(metaData?.toString("utf8") ?? "");
    return { name: `NoCloud seed ${dir}`, userData, instanceId: meta.get("instance-id"), hostname: meta.get("local-hostname") ?? meta.get("hostname"), publicKeys: [] };
  }
  return null;
}

function fromOpenNebula(text: string, where: string, problems: Problems): SourceResult {
  const vars = parseContextSh(text, problems, where);
  let userData: Uint8Array | null = null;
  if (vars.has("EC2_USER_DATA")) {
    userData = decodeBase64(vars.get("EC2_USER_DATA")!, `${where}: EC2_USER_DATA`);
  } else {
    const name = vars.has("USER_DATA") ? "USER_DATA" : vars.has("USERDATA") ? "USERDATA" : undefined;
    if (name) {
      const encoding = (vars.get("USERDATA_ENCODING") ?? vars.get("USER_DATA_ENCODING") ?? "").toLowerCase();
      if (encoding === "base64") userData = decodeBase64(vars.get(name)!, `${where}: ${name}`);
      else if (encoding === "" || encoding === "none" || encoding === "plain") userData = Buffer.from(vars.get(name)!, "utf8");
      else throw new CvmError(`${where}: USERDATA_ENCODING '${encoding.slice(0, 20)}': expected base64 (or none)`);
    }
  }
  const keyText = vars.get("SSH_PUBLIC_KEY") ?? vars.get("SSH_KEY") ?? vars.get("PUBLIC_KEY") ?? "";
  const vmid = vars.get("VMID");
  return {
    name: `OpenNebula context.sh ${where}`, userData,
    instanceId: vmid ? `one-${vmid}` : undefined,
    hostname: vars.get("SET_HOSTNAME") || vars.get("HOSTNAME") || undefined,
    publicKeys: keyText.split("\n").map((k) => k.trim()).filter(Boolean),
  };
}

function json(bytes: Buffer | null, where: string): Record<string, unknown> {
  if (!bytes) return {};
  try {
    const v = JSON.parse(bytes.toString("utf8"));
    if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch { /* reported below */ }
  throw new CvmError(`${where}: not a JSON object`);
}

const str = (v: unknown) => (typeof v === "string" && v ? v : typeof v === "number" ? String(v) : undefined);

/** NoCloud meta-data: the top-level `key: value` lines are all the agent reads. */
function simpleYaml(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of text.split("\n")) {
    const m = /^([A-Za-z0-9_-]+):[ \t]*(.*?)\s*$/.exec(l);
    if (m && m[2]) out.set(m[1], m[2].replace(/^(['"])(.*)\1$/, "$2"));
  }
  return out;
}
