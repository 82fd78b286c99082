import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse } from "ini";
import { CvmError, errnoCode, UsageError } from "../cli/errors";
import { configDir } from "../sys/config";
import { octalMode } from "../sys/mode";

/** An EC2-compatible cloud endpoint and how to talk to it. */
export interface Region {
  name: string;
  endpoint?: string;                 // absent for AWS itself: the SDK knows its endpoints
  signingRegion: string;             // the SigV4 region name (also sent to legacy clouds)
  signatureVersion: 2 | 4;
  credentials: { kind: "chain"; profile?: string } | { kind: "keys"; accessKeyId: string; secretAccessKey: string };
  defaults: { instanceType?: string; key?: string; group?: string; kernel?: string };
  onePerCall: boolean;               // the cloud starts one VM per RunInstances (OpenNebula econe-server)
  variables: Record<string, string>; // template variables of this region (UPPERCASE keys of its section)
  /** The built-in region `local`: guests booted with qemu on this machine; host ports they reach (forward = …). */
  local?: { forwards: number[] };
}

const KEYS = ["endpoint", "signature_version", "region", "profile", "access_key", "secret_key", "instance_type", "key", "group", "kernel", "one_vm_per_call", "forward"] as const;
/** What a [local] section may set: the cloud settings make no sense for qemu on this machine. */
const LOCAL_KEYS = ["instance_type", "key", "forward"];
/** A key in UPPERCASE is a template variable: PANDA_QUEUE = CERN-PROD. */
const VARIABLE = /^[A-Z][A-Z0-9_]*$/;

export const regionsFile = (env = process.env) => join(configDir(env), "regions.ini");

/** The built-in AWS region: --aws-region, then AWS_REGION / AWS_DEFAULT_REGION, then us-east-1. */
function builtInEc2(awsRegion: string | undefined, env: NodeJS.ProcessEnv): Region {
  return {
    name: "EC2", signatureVersion: 4, signingRegion: awsRegion || env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1",
    credentials: { kind: "chain" }, defaults: {}, onePerCall: false, variables: {},
  };
}

function yesNo(v: string, where: string): boolean {
  if (/^(yes|true|1)$/i.test(v)) return true;
  if (/^(no|false|0)$/i.test(v)) return false;
  throw new UsageError(`${where}: '${v}': expected yes or no`);
}

const ENDPOINT_FORM = "expected http://host[:port][/path] or https://…";

/** An endpoint URL checked in full here, so that a bad one never reaches the SDK as `TypeError: Invalid URL`. */
function checkEndpoint(value: string, where: string): string {
  const bad = (why: string) => new UsageError(`${where}: '${value}': ${why}; ${ENDPOINT_FORM}`);
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)/.exec(value);
  if (!m) throw bad("not a URL");
  if (!/^https?$/i.test(m[1])) throw bad(`scheme '${m[1]}' is not http or https`);
  const authority = m[2];
  if (authority.includes("@")) throw bad("a user name or password in the URL (credentials go in profile or access_key/secret_key)");
  const hostPort = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+)(?::(\d*))?$/.exec(authority);
  if (!authority) throw bad("no host");
  if (!hostPort) throw bad(`'${authority}' is not host or host:port`);
  if (hostPort[2] !== undefined) {
    const port = Number(hostPort[2]);
    if (!hostPort[2] || !(port >= 1 && port <= 65535)) throw bad(`port '${hostPort[2]}' is not a number from 1 to 65535`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw bad("not a valid URL");
  }
  if (url.search || url.hash) throw bad("a query or fragment, which an endpoint cannot have");
  return value;
}

/**
 * The built-in region `local` (src/cloud/local): appliances booted with qemu
 * here. ${HOST} is where a guest reaches this machine's forwarded ports.
 */
function builtInLocal(): Region {
  return {
    name: "local", signatureVersion: 4, signingRegion: "local", credentials: { kind: "chain" }, defaults: {}, onePerCall: false,
    variables: { HOST: LOCAL_HOST_ADDRESS }, local: { forwards: [] },
  };
}
export const LOCAL_HOST_ADDRESS = "169.254.0.1";

function forwardPorts(v: string, where: string): number[] {
  return v.split(",").map((p) => p.trim()).filter(Boolean).map((p) => {
    const n = Number(p);
    if (!/^\d+$/.test(p) || n < 1 || n > 65535) throw new UsageError(`${where}: '${p}': expected port numbers from 1 to 65535, comma-separated`);
    return n;
  });
}

/** Template variables every region gives (templates.ts), and where from. */
const FROM_REGION: Record<string, string> = { REGION: "the region's name", INSTANCE_TYPE: "instance_type", KEY: "key", GROUP: "group", KERNEL: "kernel" };

/** One key=value of a region section: a setting (lowercase, known), or a template variable (UPPERCASE). */
function classifyKey(k: string, v: unknown, where: (k?: string) => string): "setting" | "variable" {
  if (typeof v === "object" && v !== null) throw new UsageError(`${where(k)}: a list or sub-section; expected a single value`);
  if ((KEYS as readonly string[]).includes(k)) return "setting";
  if (!VARIABLE.test(k)) throw new UsageError(`${where()}: unknown key '${k}'; expected one of ${KEYS.join(", ")}, or a template variable in UPPERCASE (PANDA_QUEUE = …)`);
  const setting = k.toLowerCase();
  if ((KEYS as readonly string[]).includes(setting))
    throw new UsageError(`${where(k)}: ambiguous: UPPERCASE keys are template variables, but ${k} is also the setting '${setting}'${FROM_REGION[k] ? `, and templates get \${${k}} from ${FROM_REGION[k]}` : ""}; write '${setting} = …' for the setting, or give the variable another name`);
  if (String(v) === "") throw new UsageError(`${where(k)}: empty value; give the template variable a value or remove the line`);
  return "variable";
}

/** Regions from regions.ini (a section per region), after the built-in EC2; a section [EC2] adjusts the built-in one. */
export function loadRegions(o: { file?: string; awsRegion?: string; env?: NodeJS.ProcessEnv } = {}): Region[] {
  const env = o.env ?? process.env;
  const file = o.file ?? regionsFile(env);
  const regions = new Map<string, Region>([["EC2", builtInEc2(o.awsRegion, env)], ["local", builtInLocal()]]);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return [...regions.values()];
    throw new CvmError(`${file}: cannot read: ${(err as Error).message}`);
  }
  const sections = parse(text) as Record<string, Record<string, unknown>>;
  for (const [name, raw] of Object.entries(sections)) {
    if (typeof raw !== "object" || raw === null) throw new UsageError(`${file}: '${name}' is outside any [REGION] section`);
    const where = (k?: string) => `${file}: [${name}]${k ? ` ${k}` : ""}`;
    const values: Record<string, string> = {};
    const variables: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw)) {
      if (classifyKey(k, v, where) === "variable") variables[k] = String(v);
      else values[k] = String(v);
    }
    const base = regions.get(name) ?? { ...builtInEc2(undefined, env), name, signingRegion: "us-east-1" };
    const r: Region = { ...base, defaults: { ...base.defaults }, variables: { ...base.variables, ...variables } };
    if (r.local) {
      const other = Object.keys(values).find((k) => !LOCAL_KEYS.includes(k));
      if (other) throw new UsageError(`${where(other)}: not a setting of the local region; it takes ${LOCAL_KEYS.join(", ")} and template variables`);
      if (values.forward !== undefined) r.local = { forwards: forwardPorts(values.forward, where("forward")) };
      if (values.instance_type) r.defaults.instanceType = values.instance_type;
      if (values.key) r.defaults.key = values.key;
      regions.set(name, r);
      continue;
    }
    if (values.forward !== undefined) throw new UsageError(`${where("forward")}: only the local region forwards ports`);
    if (values.endpoint !== undefined) r.endpoint = checkEndpoint(values.endpoint, where("endpoint"));
    else if (name !== "EC2") throw new UsageError(`${where()}: no endpoint; expected endpoint = https://host:port/path`);
    if (values.signature_version !== undefined) {
      if (values.signature_version !== "2" && values.signature_version !== "4") throw new UsageError(`${where("signature_version")}: '${values.signature_version}': expected 2 or 4`);
      r.signatureVersion = Number(values.signature_version) as 2 | 4;
    }
    if (values.region) r.signingRegion = values.region;
    if ((values.access_key === undefined) !== (values.secret_key === undefined)) throw new UsageError(`${where()}: access_key and secret_key go together`);
    if (values.secret_key !== undefined) {
      const mode = statSync(file).mode;
      if (mode & 0o077) throw new CvmError(`${file}: holds secret keys but its permissions are ${octalMode(mode)}; make it readable by you alone (chmod 600 ${file})`);
      r.credentials = { kind: "keys", accessKeyId: values.access_key, secretAccessKey: values.secret_key };
    } else if (values.profile) r.credentials = { kind: "chain", profile: values.profile };
    if (values.instance_type) r.defaults.instanceType = values.instance_type;
    if (values.key) r.defaults.key = values.key;
    if (values.group) r.defaults.group = values.group;
    if (values.kernel) r.defaults.kernel = values.kernel;
    if (values.one_vm_per_call !== undefined) r.onePerCall = yesNo(values.one_vm_per_call, where("one_vm_per_call"));
    regions.set(name, r);
  }
  return [...regions.values()];
}

/** `--region NAME` (repeatable; `all` = every region); none given = EC2. */
export function selectRegions(all: Region[], names: string[]): Region[] {
  if (!names.length) names = ["EC2"];
  if (names.includes("all")) return all;
  return [...new Set(names)].map((n) => {
    const r = all.find((x) => x.name === n) ?? all.find((x) => x.name.toLowerCase() === n.toLowerCase());
    if (!r) throw new UsageError(`unknown region '${n}'; known: ${all.map((x) => x.name).join(", ")} (add one to ${regionsFile()})`);
    return r;
  });
}
