import { hostname, networkInterfaces } from "node:os";

/**
 * The stratum 1 geo API (spec §5.6) for a small site with no GeoIP
 * database: it cannot know distances, so it answers with what it does know.
 * A server name counts as near when it names the machine the request came
 * from: its address, the proxy named in the URL (a client behind a proxy is
 * sorted from the proxy's place), or, when the request came from this very
 * host, a loopback name or address or one of this host's own names and
 * addresses. Near names come first, then the rest, each group in the order
 * given. No name is looked up in DNS: the answer costs nothing and depends on
 * nothing outside the request.
 *
 * With the client's `+PXYSEP+` separator (fallback proxies after it), the
 * servers before it and the proxies after it are ordered separately and the
 * separator's own index comes last, as upstream's cvmfs_geo.py answers.
 */

export const SEPARATOR = "+PXYSEP+";
const MAX_NAMES = 256;
const NAME = /^[A-Za-z0-9._:[\]%-]{1,255}$/;

export interface ThisHost { names: Set<string>; addresses: Set<string>; }

/** This machine's host name (full and short) and interface addresses, lowercased. */
export function thisHost(): ThisHost {
  const full = hostname().toLowerCase();
  const addresses = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) addresses.add(canonical(a.address));
  return { names: new Set([full, full.split(".")[0]]), addresses };
}

/** Lowercase, without IPv6 brackets or zone, IPv4-mapped IPv6 as plain IPv4. */
function canonical(name: string): string {
  const n = name.toLowerCase().replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  return n.startsWith("::ffff:") && /^\d+\.\d+\.\d+\.\d+$/.test(n.slice(7)) ? n.slice(7) : n;
}

function isLoopback(name: string): boolean {
  return name === "localhost" || name.endsWith(".localhost") || name === "::1" || /^127\.\d+\.\d+\.\d+$/.test(name);
}

export interface GeoRequest {
  proxy: string;              // the <proxy> part of the URL: a proxy's host name, or the client's own token when DIRECT
  servers: string[];          // the comma-separated <servers> part
  remoteAddress?: string;     // where the request came from
}

export type GeoAnswer = { status: 200; body: string } | { status: 400; body: string };

export function geoAnswer(r: GeoRequest, host: ThisHost = thisHost()): GeoAnswer {
  if (r.servers.length > MAX_NAMES) return { status: 400, body: `more than ${MAX_NAMES} names\n` };
  const bad = r.servers.find((s) => s !== SEPARATOR && !NAME.test(s));
  if (bad !== undefined) return { status: 400, body: `not a host name: ${JSON.stringify(bad.slice(0, 80))}\n` };
  const remote = r.remoteAddress === undefined ? undefined : canonical(r.remoteAddress);
  const fromHere = remote !== undefined && (isLoopback(remote) || host.addresses.has(remote));
  const proxy = canonical(r.proxy);
  const near = (name: string) => {
    const n = canonical(name);
    if (n === remote || n === proxy) return true;
    return fromHere && (isLoopback(n) || host.names.has(n) || host.addresses.has(n));
  };
  // 0-based indexes of `names` (which start at `offset` in the request), near ones first, otherwise as given
  const order = (names: string[], offset: number) => {
    const indexes = names.map((_, i) => offset + i);
    return [...indexes.filter((i) => near(r.servers[i])), ...indexes.filter((i) => !near(r.servers[i]))];
  };
  const sep = r.servers.indexOf(SEPARATOR);
  if (sep >= 0 && r.servers.indexOf(SEPARATOR, sep + 1) >= 0) return { status: 400, body: `${SEPARATOR} given twice\n` };
  const indexes = sep < 0
    ? order(r.servers, 0)
    : [...order(r.servers.slice(0, sep), 0), ...order(r.servers.slice(sep + 1), sep + 1), sep];
  return { status: 200, body: indexes.map((i) => i + 1).join(",") + "\n" };
}
