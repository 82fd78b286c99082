import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { CvmError, UsageError } from "../../cli/errors";
import { parseShellConfig } from "./shell-config";

/**
 * The stock client's configuration, read as it reads it (spec §5.1): files
 * under /etc/cvmfs in upstream's order, then the environment, then `-o`
 * options; every value remembers where it came from, as `cvmfs_config
 * showconfig` shows. `CVM_CONFIG_ROOT` (or --config-root) moves /etc/cvmfs.
 */

export interface Setting { value: string; source: string; }

/** What mount/default.conf sets, and cvm's own settings. */
const DEFAULTS: Record<string, string> = {
  CVMFS_TIMEOUT: "5",
  CVMFS_TIMEOUT_DIRECT: "10",
  CVMFS_MAX_RETRIES: "1",
  CVMFS_BACKOFF_INIT: "2",
  CVMFS_BACKOFF_MAX: "10",
  CVMFS_PROXY_RESET_AFTER: "300",
  CVMFS_HOST_RESET_AFTER: "1800",
  CVMFS_USE_GEOAPI: "no",
  CVMFS_QUOTA_LIMIT: "4000",
  CVMFS_SHARED_CACHE: "yes",
  CVMFS_SEND_INFO_HEADER: "no",
  CVMFS_FOLLOW_REDIRECTS: "no",
  CVM_PARALLEL_DOWNLOADS: "16",
};

/** The keys this client acts on; any other CVMFS_* key is kept and shown, not refused (the stock client has many). */
export const KNOWN_KEYS = [
  "CVMFS_SERVER_URL", "CVMFS_HTTP_PROXY", "CVMFS_FALLBACK_PROXY", "CVMFS_TIMEOUT", "CVMFS_TIMEOUT_DIRECT",
  "CVMFS_MAX_RETRIES", "CVMFS_BACKOFF_INIT", "CVMFS_BACKOFF_MAX", "CVMFS_PROXY_RESET_AFTER", "CVMFS_HOST_RESET_AFTER",
  "CVMFS_USE_GEOAPI", "CVMFS_CACHE_BASE", "CVMFS_SHARED_CACHE", "CVMFS_QUOTA_LIMIT", "CVMFS_KEYS_DIR", "CVMFS_PUBLIC_KEY",
  "CVMFS_MAX_TTL", "CVMFS_DEFAULT_DOMAIN", "CVMFS_REPOSITORIES", "CVMFS_SEND_INFO_HEADER", "CVMFS_FOLLOW_REDIRECTS",
  "CVM_PARALLEL_DOWNLOADS",
] as const;

export const configRoot = (env = process.env) => env.CVM_CONFIG_ROOT || "/etc/cvmfs";

/** /var/lib/cvmfs as the stock client, for root; a user's own cache otherwise. */
export const defaultCacheBase = (env = process.env) =>
  process.getuid?.() === 0 ? "/var/lib/cvmfs" : join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "cvm", "cvmfs");

export class ClientConfig {
  constructor(
    readonly fqrn: string,
    readonly settings: Map<string, Setting>,
    readonly files: string[],       // the files read, in order
    readonly warnings: string[],
  ) {}

  /** The value with @fqrn@ and @org@ filled in (spec §5.1), or undefined. */
  get(key: string): string | undefined {
    const s = this.settings.get(key);
    return s === undefined ? undefined : expandTemplates(s.value, this.fqrn);
  }

  source(key: string): string {
    return this.settings.get(key)?.source ?? "unset";
  }

  private fail(key: string, expected: string): never {
    throw new CvmError(`${key}='${this.get(key)}' (from ${this.source(key)}): expected ${expected}`);
  }

  /** A whole number ≥ min (seconds, counts, megabytes). */
  number(key: string, min = 0): number {
    const v = this.get(key) ?? DEFAULTS[key];
    if (v === undefined || !/^-?\d+$/.test(v.trim()) || Number(v) < min || !Number.isSafeInteger(Number(v)))
      this.fail(key, `a whole number${min > 0 ? ` of at least ${min}` : min === 0 ? " (0 or more)" : ""}`);
    return Number(v);
  }

  /** yes/no, as the stock scripts write them (also true/false, 1/0, on/off). */
  flag(key: string): boolean {
    const v = (this.get(key) ?? DEFAULTS[key] ?? "no").trim().toLowerCase();
    if (["yes", "true", "1", "on"].includes(v)) return true;
    if (["no", "false", "0", "off", ""].includes(v)) return false;
    this.fail(key, "yes or no");
  }

  /** Every setting, sorted, as `cvm fs config` prints them. */
  entries(): [string, Setting][] {
    return [...this.settings.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
}

export function expandTemplates(value: string, fqrn: string): string {
  return value.replaceAll("@fqrn@", fqrn).replaceAll("@org@", fqrn.split(".")[0]);
}

function readConfigFile(file: string): string | undefined {
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined; // absent: fine; a link loop or no access is not
    throw new CvmError(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!st.isFile()) throw new CvmError(`${file}: not a regular file`);
  if (st.size > 1 << 20) throw new CvmError(`${file}: ${st.size} bytes; a configuration file is at most 1 MiB`);
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new CvmError(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** The files the stock client sources for `fqrn`, in its order (spec §5.1). */
export function configFiles(root: string, fqrn: string): string[] {
  const domain = fqrn.split(".").slice(1).join(".");
  const defaultD = join(root, "default.d");
  let dropIns: string[] = [];
  if (existsSync(defaultD)) {
    try {
      dropIns = readdirSync(defaultD).filter((n) => n.endsWith(".conf")).sort().map((n) => join(defaultD, n));
    } catch (err) {
      throw new CvmError(`${defaultD}: cannot list it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  const files = [join(root, "default.conf"), ...dropIns, join(root, "default.local")];
  if (domain) files.push(join(root, "domain.d", `${domain}.conf`), join(root, "domain.d", `${domain}.local`));
  if (fqrn) files.push(join(root, "config.d", `${fqrn}.conf`), join(root, "config.d", `${fqrn}.local`));
  return files;
}

export interface LoadOptions {
  fqrn: string;
  root?: string;                       // default CVM_CONFIG_ROOT or /etc/cvmfs
  env?: NodeJS.ProcessEnv;
  overrides?: Record<string, string>;  // -o KEY=VALUE
}

export function loadClientConfig(o: LoadOptions): ClientConfig {
  const env = o.env ?? process.env;
  const root = o.root ?? configRoot(env);
  const settings = new Map<string, Setting>();
  const warnings: string[] = [];
  const read: string[] = [];
  for (const [k, v] of Object.entries(DEFAULTS)) settings.set(k, { value: v, source: "built-in default" });
  settings.set("CVMFS_CACHE_BASE", { value: defaultCacheBase(env), source: "built-in default" });
  const lookup = (name: string) => settings.get(name)?.value ?? env[name];
  for (const file of configFiles(root, o.fqrn)) {
    const text = readConfigFile(file);
    if (text === undefined) continue;
    read.push(file);
    const parsed = parseShellConfig(text, file, lookup);
    warnings.push(...parsed.warnings);
    for (const a of parsed.assignments) settings.set(a.key, { value: a.value, source: `${file}:${a.line}` });
  }
  for (const [k, v] of Object.entries(env)) if (v !== undefined && (k.startsWith("CVMFS_") || (KNOWN_KEYS as readonly string[]).includes(k))) settings.set(k, { value: v, source: "environment" });
  for (const [k, v] of Object.entries(o.overrides ?? {})) settings.set(k, { value: v, source: "-o" });
  return new ClientConfig(o.fqrn, settings, read, warnings);
}

/**
 * A repository name as users type it: a bare `atlas` gets CVMFS_DEFAULT_DOMAIN
 * (as the stock client expands short names), a full name stays.
 */
export function expandRepositoryName(name: string, o: Omit<LoadOptions, "fqrn"> = {}): string {
  if (name.includes(".")) return name;
  const domain = loadClientConfig({ ...o, fqrn: "" }).get("CVMFS_DEFAULT_DOMAIN");
  if (!domain) throw new UsageError(`repository '${name}': not a full name, and CVMFS_DEFAULT_DOMAIN is not set`);
  return `${name}.${domain}`;
}

/** `-o KEY=VALUE` options into a record; KEY must be a variable name. */
export function parseOverrides(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf("=");
    const key = eq > 0 ? p.slice(0, eq) : "";
    if (!/^[A-Z_][A-Z0-9_]*$/.test(key)) throw new UsageError(`-o '${p}': expected KEY=VALUE with an upper-case key such as CVMFS_HTTP_PROXY`);
    out[key] = p.slice(eq + 1);
  }
  return out;
}
