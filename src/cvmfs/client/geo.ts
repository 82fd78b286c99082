import { boundedGet, HttpError } from "../../sys/http";
import { DIRECT } from "./proxies";

/**
 * The stratum 1 geo API (spec §5.6): up to three servers of the chain are
 * asked, in random order, to sort the chain's host names by distance from
 * the proxy (or from us, DIRECT). The answer must be a permutation of the
 * 1-based indexes; anything else is ignored and the next server asked.
 * Returns the hosts reordered, or as given when no server answers usefully.
 */
export async function geoOrder(hosts: string[], proxy: string, o: { timeoutMs: number; random?: () => number; log?: (m: string) => void }): Promise<string[]> {
  if (hosts.length < 2) return hosts;
  const names = hosts.map((h) => new URL(h).hostname);
  const asker = proxy === DIRECT ? `cvm-${process.pid}` : new URL(proxy).hostname;
  const random = o.random ?? Math.random;
  const candidates = [...hosts].map((h) => [random(), h] as const).sort((a, b) => a[0] - b[0]).slice(0, 3).map(([, h]) => h);
  for (const host of candidates) {
    const url = `${host}/api/v1.0/geo/${encodeURIComponent(asker)}/${names.map(encodeURIComponent).join(",")}`;
    try {
      const { body } = await boundedGet(url, { maxBytes: 4096, idleTimeoutMs: o.timeoutMs, proxy: proxy === DIRECT ? undefined : proxy, maxRedirects: 0 });
      const order = parseGeoReply(new TextDecoder().decode(body), hosts.length);
      if (order) {
        o.log?.(`geo API of ${host}: order ${order.join(",")}`);
        return order.map((i) => hosts[i - 1]);
      }
      o.log?.(`geo API of ${host}: not a permutation of 1..${hosts.length}; ignored`);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      o.log?.(`geo API: ${err.message}`);
    }
  }
  return hosts;
}

/** `i1,i2,…,in\n`: digits, commas, spaces and a newline only, each of 1..n exactly once. */
export function parseGeoReply(text: string, n: number): number[] | undefined {
  if (!/^[0-9, \n]*$/.test(text)) return undefined;
  const order = text.trim().split(",").map((t) => Number(t.trim()));
  if (order.length !== n || order.some((i) => !Number.isInteger(i) || i < 1 || i > n) || new Set(order).size !== n) return undefined;
  return order;
}
