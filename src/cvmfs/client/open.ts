import { mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { CvmError } from "../../cli/errors";
import { log } from "../../cli/log";
import { writeFileAtomic } from "../../sys/atomic";
import { RepositoryError } from "../errors";
import { keysAt, loadMasterKeys, type MasterKey } from "../format/keys";
import { Repository } from "./repository";
import type { GetOptions, RepositorySource } from "./source";
import { StaleManifestError, TrustState } from "./trust-state";
import { ObjectCache } from "./cache";
import { expandRepositoryName, loadClientConfig, type ClientConfig } from "./config";
import { Fetcher } from "./fetcher";
import { geoOrder } from "./geo";
import { DIRECT, parseServerList, proxyChain } from "./proxies";

export interface ConfiguredRequest {
  name: string;                          // atlas.cern.ch, or atlas with CVMFS_DEFAULT_DOMAIN
  configRoot?: string;                   // instead of CVM_CONFIG_ROOT or /etc/cvmfs
  overrides?: Record<string, string>;    // -o KEY=VALUE
  keys?: string;                         // --keys: extra master keys
  env?: NodeJS.ProcessEnv;
}

/** The cache directory the configuration names (spec §6.1). */
export function cacheDir(config: ClientConfig): string {
  const base = config.get("CVMFS_CACHE_BASE")!;
  // A relative base would follow whoever's working directory (the mount daemon's included).
  if (!base.startsWith("/")) throw new CvmError(`CVMFS_CACHE_BASE='${base}' (from ${config.source("CVMFS_CACHE_BASE")}): expected an absolute path`);
  return join(base, config.flag("CVMFS_SHARED_CACHE") ? "shared" : config.fqrn);
}

export function openCache(config: ClientConfig): ObjectCache {
  const mb = config.number("CVMFS_QUOTA_LIMIT", -1);
  return new ObjectCache(cacheDir(config), mb < 0 ? null : mb * 1024 * 1024);
}

/** CVMFS_PUBLIC_KEY (files, ':'-separated) or CVMFS_KEYS_DIR name the trusted master keys; else the built-in ones. --keys adds. */
export function configuredKeys(config: ClientConfig, extra?: string): MasterKey[] {
  const publicKey = config.get("CVMFS_PUBLIC_KEY");
  const keysDir = config.get("CVMFS_KEYS_DIR");
  if (publicKey || keysDir) return [...keysAt([publicKey, keysDir].filter(Boolean).join(":")), ...(extra ? keysAt(extra) : [])];
  return loadMasterKeys({ keysDir: extra, env: {} });
}

/** The fetcher the configuration describes; with CVMFS_USE_GEOAPI the servers are ordered by the geo API first. */
export async function makeFetcher(config: ClientConfig): Promise<Fetcher> {
  const seconds = (key: string) => config.number(key, 0) * 1000;
  const proxies = proxyChain(config.get("CVMFS_HTTP_PROXY"), config.get("CVMFS_FALLBACK_PROXY"));
  let hosts = parseServerList(config.get("CVMFS_SERVER_URL"));
  if (config.flag("CVMFS_USE_GEOAPI")) {
    const proxy = proxies[0]?.[0] ?? DIRECT;
    hosts = await geoOrder(hosts, proxy, { timeoutMs: Math.max(1000, seconds(proxy === DIRECT ? "CVMFS_TIMEOUT_DIRECT" : "CVMFS_TIMEOUT")), log: (m) => log.debug(m) });
  }
  return new Fetcher({
    fqrn: config.fqrn,
    hosts,
    proxies,
    timeoutProxyMs: Math.max(1000, seconds("CVMFS_TIMEOUT")),
    timeoutDirectMs: Math.max(1000, seconds("CVMFS_TIMEOUT_DIRECT")),
    maxRetries: config.number("CVMFS_MAX_RETRIES", 0),
    backoffInitMs: seconds("CVMFS_BACKOFF_INIT"),
    backoffMaxMs: seconds("CVMFS_BACKOFF_MAX"),
    proxyResetAfterMs: seconds("CVMFS_PROXY_RESET_AFTER"),
    hostResetAfterMs: seconds("CVMFS_HOST_RESET_AFTER"),
    followRedirects: config.flag("CVMFS_FOLLOW_REDIRECTS"),
    parallel: config.number("CVM_PARALLEL_DOWNLOADS", 1),
    log: (m) => log.debug(m),
  });
}

const signedCopy = (dir: string, fqrn: string, which: "published" | "whitelist") => join(dir, `cvm.${fqrn}.${which}`);

/**
 * The signed files of the last verified revision come from the cache; every
 * object from the fetcher (which fails, within its timeouts, for what is not
 * cached). Verification is the same as online.
 */
class OfflineSource implements RepositorySource {
  readonly location: string;
  constructor(private readonly dir: string, private readonly fqrn: string, private readonly online: RepositorySource) {
    this.location = `${online.location} (offline copy)`;
  }
  async get<T = Uint8Array>(path: string, maxBytes: number, accept: (bytes: Uint8Array) => T | Promise<T> = ((b: Uint8Array) => b) as never, o?: GetOptions): Promise<T> {
    if (path === ".cvmfspublished" || path === ".cvmfswhitelist") {
      const file = signedCopy(this.dir, this.fqrn, path === ".cvmfspublished" ? "published" : "whitelist");
      if (statSync(file).size > maxBytes) throw new RepositoryError(`${file}: larger than ${maxBytes} bytes`);
      return await accept(readFileSync(file));
    }
    return this.online.get(path, maxBytes, accept, o);
  }
}

/**
 * Opens a repository by name with the stock client's configuration: its
 * servers and proxies with fail-over, its cache, its keys. A server serving
 * an older revision than one already seen is skipped as a stale replica;
 * with every server down, the last verified revision in the cache is used
 * (offline), with one warning saying since when.
 */
export interface Configured {
  repo: Repository;
  config: ClientConfig;
  fetcher: Fetcher;
  cache: ObjectCache;
  offline: boolean;
  /** The current revision again, verified (stale replicas skipped); it shares the cache and does not close it. */
  reopen: () => Promise<Repository>;
}

export async function openConfigured(r: ConfiguredRequest): Promise<Configured> {
  const fqrn = expandRepositoryName(r.name, { root: r.configRoot, env: r.env, overrides: r.overrides });
  const config = loadClientConfig({ fqrn, root: r.configRoot, env: r.env, overrides: r.overrides });
  for (const w of config.warnings) log.debug(w);
  const fetcher = await makeFetcher(config);
  const masterKeys = configuredKeys(config, r.keys).map((k) => k.key);
  const cache = openCache(config);
  const state = TrustState.default();
  const online = async (ownsCache: boolean) => {
    for (let tries = 1, fresh = false; ; ) {
      try {
        const repo = await Repository.open({ source: fetcher, fqrn, masterKeys, state, cache, ownsCache, fresh });
        saveSignedFiles(cache.dir, fqrn, repo);
        return repo;
      } catch (err) {
        // An older manifest than one seen: first ask the proxies for a fresh copy (a squid keeps it 61 s), then try the next server.
        if (err instanceof StaleManifestError && !fresh) { fresh = true; continue; }
        if (err instanceof StaleManifestError && tries++ < fetcher.hosts.length) {
          fresh = false;
          log.warn(`${fetcher.currentHost}: ${err.message.replace(/^[^:]*: /, "")}; skipping this stale replica`);
          fetcher.skipHost();
          continue;
        }
        throw err;
      }
    }
  };
  const reopen = () => online(false);
  try {
    return { repo: await online(true), config, fetcher, cache, offline: false, reopen };
  } catch (err) {
    const copy = signedCopy(cache.dir, fqrn, "published");
    if (!(err instanceof RepositoryError) || err instanceof StaleManifestError || !/every server failed/.test(err.message) || !exists(copy)) {
      cache.close();
      throw err;
    }
    const since = statSync(copy).mtime;
    const repo = await Repository.open({ source: new OfflineSource(cache.dir, fqrn, fetcher), fqrn, masterKeys, state, cache });
    log.warn(`${fqrn}: offline: no server answered; reading revision ${repo.manifest.revision} from the cache, as last verified online at ${since.toISOString()}`);
    return { repo, config, fetcher, cache, offline: true, reopen };
  }
}

const exists = (file: string) => { try { return statSync(file).isFile(); } catch { return false; } };

/** Keeps the signed files of a verified revision for offline use, atomically. */
function saveSignedFiles(dir: string, fqrn: string, repo: Repository): void {
  try {
    mkdirSync(dir, { recursive: true });
    writeFileAtomic(signedCopy(dir, fqrn, "whitelist"), repo.signedFiles.whitelist, 0o644);
    writeFileAtomic(signedCopy(dir, fqrn, "published"), repo.signedFiles.manifest, 0o644);
  } catch { /* a read-only cache only costs the offline fallback */ }
}
