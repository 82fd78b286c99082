import { boundedGet, HttpError } from "../../sys/http";
import { parseManifest } from "../format/manifest";
import { SIGNED_FILE_LIMIT } from "./limits";
import { expandRepositoryName, loadClientConfig } from "./config";
import { parseServerList, proxyChain, DIRECT } from "./proxies";

export interface ProbeResult {
  host: string;
  proxy: string;           // DIRECT or the proxy URL
  ok: boolean;
  rttMs?: number;          // the faster of two fetches of .cvmfspublished, as upstream's host probe
  revision?: number;
  published?: string;      // ISO time of the manifest's T
  snapshot?: string;       // .cvmfs_last_snapshot, where the stratum 1 has one
  error?: string;
}

/**
 * `cvm fs probe` (like `cvmfs_config probe` and `cvmfs_talk host probe`):
 * every server through every proxy, whether it answers, how fast, and which
 * revision it serves. Unverified on purpose: it reports what each server
 * says; reads verify.
 */
export async function probe(o: { name: string; configRoot?: string; overrides?: Record<string, string> }): Promise<{ fqrn: string; results: ProbeResult[] }> {
  const fqrn = expandRepositoryName(o.name, { root: o.configRoot, overrides: o.overrides });
  const config = loadClientConfig({ fqrn, root: o.configRoot, overrides: o.overrides });
  const hosts = parseServerList(config.get("CVMFS_SERVER_URL"));
  const proxies = [...new Set(proxyChain(config.get("CVMFS_HTTP_PROXY"), config.get("CVMFS_FALLBACK_PROXY")).flat())];
  const timeout = (proxy: string) => 1000 * config.number(proxy === DIRECT ? "CVMFS_TIMEOUT_DIRECT" : "CVMFS_TIMEOUT", 1);
  const one = async (host: string, proxy: string): Promise<ProbeResult> => {
    const get = (path: string, maxBytes: number) => boundedGet(`${host}/${path}`, {
      maxBytes, idleTimeoutMs: timeout(proxy), proxy: proxy === DIRECT ? undefined : proxy, maxRedirects: 0,
    });
    try {
      let best = Infinity;
      let body: Uint8Array = new Uint8Array();
      for (let i = 0; i < 2; i++) {
        const t0 = performance.now();
        body = (await get(".cvmfspublished", SIGNED_FILE_LIMIT)).body;
        best = Math.min(best, performance.now() - t0);
      }
      const { manifest } = parseManifest(body, `${host}/.cvmfspublished`);
      let snapshot: string | undefined;
      try { snapshot = new TextDecoder().decode((await get(".cvmfs_last_snapshot", 4096)).body).trim().slice(0, 80); } catch { /* a stratum 0 has none */ }
      return {
        host, proxy, ok: true, rttMs: Math.round(best * 10) / 10, revision: manifest.revision,
        published: manifest.publishedAt ? new Date(manifest.publishedAt * 1000).toISOString() : undefined, snapshot,
      };
    } catch (err) {
      if (!(err instanceof HttpError) && !(err instanceof Error && err.name === "RepositoryError")) throw err;
      return { host, proxy, ok: false, error: err.message.replace(`${host}/.cvmfspublished`, "").replace(/^[: ]+/, "") };
    }
  };
  const results = await Promise.all(hosts.flatMap((h) => proxies.map((p) => one(h, p))));
  return { fqrn, results };
}

/** Hosts by their best RTT over any proxy; hosts that never answered last, in their given order. */
export function orderByRtt(results: ProbeResult[]): string[] {
  const best = new Map<string, number>();
  for (const r of results) best.set(r.host, Math.min(best.get(r.host) ?? Infinity, r.ok ? r.rttMs! : Infinity));
  return [...best.keys()].sort((a, b) => best.get(a)! - best.get(b)!);
}
