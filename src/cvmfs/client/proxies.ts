import { CvmError } from "../../cli/errors";

/**
 * CVMFS_HTTP_PROXY (spec §5.3): `;` separates ordered fail-over groups, `|`
 * load-balanced proxies inside a group; DIRECT means no proxy. Checked here
 * with a message naming the fault, as `cvmfs_config chksetup` would.
 */

export const DIRECT = "DIRECT";
/** A proxy URL ("http://host:port") or DIRECT. */
export type ProxyGroup = string[];

function checkProxyUrl(member: string, key: string, value: string): string {
  const where = `${key} '${value}'`;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(member))
    throw new CvmError(`${where}: proxy '${member}' has no scheme; write it as http://${member}`);
  if (!/^http:\/\//i.test(member)) throw new CvmError(`${where}: proxy '${member}': only http:// proxies are supported`);
  const port = /^http:\/\/(?:\[[^\]]*\]|[^/:]*)(?::([^/]*))?/i.exec(member)?.[1];
  if (port !== undefined && !/^\d{1,5}$/.test(port)) throw new CvmError(`${where}: proxy '${member}': the port '${port}' is not a number`);
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) throw new CvmError(`${where}: proxy '${member}': the port ${port} is not between 1 and 65535`);
  let url: URL;
  try {
    url = new URL(member);
  } catch {
    throw new CvmError(`${where}: proxy '${member}' is not a URL`);
  }
  if (!url.hostname) throw new CvmError(`${where}: proxy '${member}' names no host`);
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.username)
    throw new CvmError(`${where}: proxy '${member}': a proxy is a scheme, host and port only`);
  return `http://${url.host}`;
}

/** Parses a proxy string into fail-over groups of load-balanced members. */
export function parseProxyList(value: string, key = "CVMFS_HTTP_PROXY"): ProxyGroup[] {
  const where = `${key} '${value}'`;
  const text = value.trim();
  if (text === "") return [];
  return text.split(";").map((group, gi) => {
    const g = group.trim();
    if (g === "") throw new CvmError(`${where}: group ${gi + 1} is empty (two ';' in a row, or one at an end)`);
    if (g.toLowerCase() === "auto")
      throw new CvmError(`${where}: 'auto' (proxy discovery through WPAD/PAC) is not supported yet; name your site's squids, or DIRECT`);
    const members = g.split("|").map((m) => m.trim());
    if (members.some((m) => m === "")) throw new CvmError(`${where}: group ${gi + 1} '${g}' has an empty member ('|' at an end or twice)`);
    if (members.length > 1 && members.some((m) => m.toUpperCase() === DIRECT))
      throw new CvmError(`${where}: group ${gi + 1} '${g}': DIRECT cannot be load-balanced with proxies; give it a group of its own (…;DIRECT)`);
    return members.map((m) => (m.toUpperCase() === DIRECT ? DIRECT : checkProxyUrl(m, key, value)));
  });
}

/**
 * The proxy chain the client uses: CVMFS_HTTP_PROXY's groups, then the
 * fallback groups; with a fallback proxy, DIRECT is dropped from both lists
 * (upstream's StripDirect). An empty result is an error, as for the stock client.
 */
export function proxyChain(httpProxy: string | undefined, fallbackProxy: string | undefined): ProxyGroup[] {
  if (httpProxy === undefined || httpProxy.trim() === "")
    throw new CvmError("CVMFS_HTTP_PROXY is not set: name your site's squid (http://squid.example.org:3128), or DIRECT when there is none");
  const groups = parseProxyList(httpProxy, "CVMFS_HTTP_PROXY");
  const fallback = fallbackProxy ? parseProxyList(fallbackProxy, "CVMFS_FALLBACK_PROXY") : [];
  if (fallback.length === 0) return groups;
  const stripped = [...groups, ...fallback].map((g) => g.filter((m) => m !== DIRECT)).filter((g) => g.length > 0);
  if (stripped.length === 0)
    throw new CvmError("CVMFS_HTTP_PROXY and CVMFS_FALLBACK_PROXY leave no proxy: with a fallback proxy, DIRECT is dropped from both (as upstream); name a proxy");
  return stripped;
}

/** CVMFS_SERVER_URL: `;`-separated stratum URLs with @fqrn@/@org@ already expanded. */
export function parseServerList(value: string | undefined): string[] {
  if (value === undefined || value.trim() === "")
    throw new CvmError("CVMFS_SERVER_URL is not set: name the stratum 1 servers, e.g. http://cvmfs-stratum-one.cern.ch/cvmfs/@fqrn@");
  return value.split(";").map((u) => u.trim()).map((u, i) => {
    if (u === "") throw new CvmError(`CVMFS_SERVER_URL '${value}': entry ${i + 1} is empty`);
    let url: URL;
    try { url = new URL(u); } catch { throw new CvmError(`CVMFS_SERVER_URL '${value}': '${u}' is not a URL`); }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new CvmError(`CVMFS_SERVER_URL '${value}': '${u}': only http and https servers`);
    return u.replace(/\/+$/, "");
  });
}
