import { CvmError } from "../../cli/errors";
import { expandRepositoryName, KNOWN_KEYS, loadClientConfig } from "./config";
import { parseServerList, proxyChain } from "./proxies";

export interface ConfigDescription {
  fqrn: string;
  files: string[];
  settings: { key: string; value: string; source: string; known: boolean }[];
  warnings: string[];
  problems: string[];   // values the client would refuse, one line each
}

/** Numbers, flags and lists the client needs, each checked the way it will be used. */
const NUMBERS: [string, number][] = [
  ["CVMFS_TIMEOUT", 1], ["CVMFS_TIMEOUT_DIRECT", 1], ["CVMFS_MAX_RETRIES", 0], ["CVMFS_BACKOFF_INIT", 0], ["CVMFS_BACKOFF_MAX", 0],
  ["CVMFS_PROXY_RESET_AFTER", 0], ["CVMFS_HOST_RESET_AFTER", 0], ["CVMFS_QUOTA_LIMIT", -1], ["CVM_PARALLEL_DOWNLOADS", 1],
];
const FLAGS = ["CVMFS_USE_GEOAPI", "CVMFS_SHARED_CACHE", "CVMFS_SEND_INFO_HEADER", "CVMFS_FOLLOW_REDIRECTS"];

/** `cvm fs config`: every effective value with its origin, like `cvmfs_config showconfig`, and what is wrong. */
export function describeConfig(o: { name: string; configRoot?: string; overrides?: Record<string, string> }): ConfigDescription {
  const fqrn = expandRepositoryName(o.name, { root: o.configRoot, overrides: o.overrides });
  const config = loadClientConfig({ fqrn, root: o.configRoot, overrides: o.overrides });
  const problems: string[] = [];
  const check = (f: () => unknown) => { try { f(); } catch (err) { if (err instanceof CvmError) problems.push(err.message); else throw err; } };
  check(() => parseServerList(config.get("CVMFS_SERVER_URL")));
  check(() => proxyChain(config.get("CVMFS_HTTP_PROXY"), config.get("CVMFS_FALLBACK_PROXY")));
  for (const [key, min] of NUMBERS) check(() => config.number(key, min));
  for (const key of FLAGS) check(() => config.flag(key));
  return {
    fqrn, files: config.files, warnings: config.warnings, problems,
    settings: config.entries().map(([key]) => ({ key, value: config.get(key)!, source: config.source(key), known: (KNOWN_KEYS as readonly string[]).includes(key) })),
  };
}
