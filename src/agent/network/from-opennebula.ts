import { bad, checkNetwork, domain, hostAddress, interfaceAddress, list, mac, maskToPrefix, mtu, newInterface, prefixOf, pushUnique, type NetworkConfig, type SystemNic } from "./model";

/**
 * OpenNebula's context variables → the network model, as cloud-init's
 * OpenNebula source reads them: only when some ETH<n>_IP* variable is set;
 * ETH<n>_MAC finds the interface (without it, the one named eth<n>);
 * ETH<n>_IP with ETH<n>_MASK (default 255.255.255.0), or, with no IP at all
 * and an OpenNebula MAC (02:00:…), the address encoded in its last four bytes;
 * ETH<n>_IP6 and _IP6_ULA with _IP6_PREFIX_LENGTH (default 64); _GATEWAY,
 * _IP6_GATEWAY (or the older _GATEWAY6); _DNS and the global DNS; _SEARCH_DOMAIN;
 * _MTU. one-context's ETH<n>_METHOD (static, dhcp, skip) and _IP6_METHOD
 * (static, auto, dhcp, disable) are read too. An empty variable is an unset one.
 */
export function networkFromOpenNebula(vars: Map<string, string>, where: string, nics?: SystemNic[]): NetworkConfig | null {
  if (![...vars.keys()].some((k) => /^ETH\d+_IP/.test(k))) return null;
  const get = (k: string) => { const v = vars.get(k)?.trim(); return v ? v : undefined; };
  const numbers = [...new Set([...vars.keys()].map((k) => /^ETH(\d+)_/.exec(k)?.[1]).filter((n): n is string => n !== undefined))]
    .map(Number).sort((a, b) => a - b);
  const cfg: NetworkConfig = { from: where, interfaces: [], dns: [], search: [] };
  for (const d of list(get("DNS"), where, "DNS")) pushUnique(cfg.dns, hostAddress(d, where, "DNS").address);

  for (const n of numbers) {
    const k = (name: string) => `ETH${n}_${name}`;
    const v = (name: string) => get(k(name));
    const method = v("METHOD")?.toLowerCase() ?? "static";
    const method6 = v("IP6_METHOD")?.toLowerCase() ?? "static";
    if (!["static", "dhcp", "skip"].includes(method)) throw bad(where, k("METHOD"), method, "expected static, dhcp or skip");
    if (!["static", "auto", "dhcp", "disable"].includes(method6)) throw bad(where, k("IP6_METHOD"), method6, "expected static, auto, dhcp or disable");
    if (method === "skip") continue;
    const i = newInterface(`ETH${n}`);
    if (v("MAC")) i.mac = mac(v("MAC"), where, k("MAC"));
    else i.name = `eth${n}`;
    if (method === "dhcp") i.dhcp4 = true;
    else {
      const ip = v("IP") ?? (i.mac?.startsWith("02:00:") && !v("IP6") && method6 === "static" ? macToIp(i.mac) : undefined);
      if (ip) i.addresses.push(interfaceAddress(ip, maskToPrefix(v("MASK") ?? "255.255.255.0", where, k("MASK")), where, k(v("IP") ? "IP" : "MAC"), 4));
      if (v("GATEWAY")) i.gateway4 = hostAddress(v("GATEWAY"), where, k("GATEWAY"), 4).address;
    }
    if (method6 === "auto") i.acceptRa = true;
    else if (method6 === "dhcp") i.dhcp6 = true;
    else if (method6 === "disable") i.acceptRa = false;
    else {
      const prefix6 = prefixOf(v("IP6_PREFIX_LENGTH") ?? "64", 6, where, k("IP6_PREFIX_LENGTH"));
      for (const f of ["IP6", "IP6_ULA"]) if (v(f)) i.addresses.push(interfaceAddress(v(f), prefix6, where, k(f), 6));
      const gw6 = v("IP6_GATEWAY") ? "IP6_GATEWAY" : v("GATEWAY6") ? "GATEWAY6" : undefined;
      if (gw6) i.gateway6 = hostAddress(v(gw6), where, k(gw6), 6).address;
    }
    for (const d of list(v("DNS"), where, k("DNS"))) pushUnique(i.dns, hostAddress(d, where, k("DNS")).address);
    for (const s of list(v("SEARCH_DOMAIN"), where, k("SEARCH_DOMAIN"))) pushUnique(i.search, domain(s, where, k("SEARCH_DOMAIN")));
    if (v("MTU")) i.mtu = mtu(v("MTU"), where, k("MTU"));
    // an ETH<n> with nothing to set (ETH1_ALIAS-style leftovers, a bare MAC) is left alone
    if (!i.addresses.length && !i.dhcp4 && !i.dhcp6 && i.acceptRa === undefined && i.mtu === undefined) continue;
    cfg.interfaces.push(i);
  }
  return checkNetwork(cfg, nics);
}

/** OpenNebula's MAC convention: 02:00 then the IPv4 address's four bytes. */
const macToIp = (m: string) => m.split(":").slice(2).map((h) => parseInt(h, 16)).join(".");
