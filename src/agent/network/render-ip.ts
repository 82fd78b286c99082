import { dnsOf, findNic, type NetworkConfig, type SystemNic } from "./model";

export interface LiveSteps {
  /** argv of each `ip` call, in order (links up with their MTU, addresses, gateways, routes). */
  commands: string[][];
  /** Interfaces (system names) to run a DHCPv4 / DHCPv6 client on. */
  dhcp4: string[];
  dhcp6: string[];
  /** /etc/resolv.conf for the name servers and search domains, or null when the source gives none. */
  resolvConf: string | null;
  /** Interfaces of the configuration not on this system (by MAC, else name). */
  missing: string[];
}

/**
 * The configuration applied live with `ip` (busybox's or iproute2's): what
 * the appliance's boot runs, each command an argv (never a shell line).
 * `nics` are the system's interfaces, which the model's are found among;
 * `ip` the program (`["busybox", "ip"]` where there is no `ip` link).
 */
export function liveSteps(cfg: NetworkConfig, nics: SystemNic[], ip: string[] = ["ip"]): LiveSteps {
  const r: LiveSteps = { commands: [], dhcp4: [], dhcp6: [], resolvConf: null, missing: [] };
  const dns: string[] = [], search: string[] = [];
  for (const i of cfg.interfaces) {
    const nic = findNic(i, nics);
    if (!nic) { r.missing.push(i.label); continue; }
    const dev = nic.name;
    r.commands.push([...ip, "link", "set", "dev", dev, ...(i.mtu !== undefined ? ["mtu", String(i.mtu)] : []), "up"]);
    for (const a of i.addresses) r.commands.push([...ip, ...(a.family === 6 ? ["-6"] : []), "addr", "add", `${a.address}/${a.prefix}`, "dev", dev]);
    if (i.gateway4) r.commands.push([...ip, "route", "add", "default", "via", i.gateway4, "dev", dev]);
    if (i.gateway6) r.commands.push([...ip, "-6", "route", "add", "default", "via", i.gateway6, "dev", dev]);
    for (const x of i.routes)
      r.commands.push([...ip, ...(x.family === 6 ? ["-6"] : []), "route", "add", `${x.to}/${x.prefix}`, "via", x.via, "dev", dev, ...(x.metric !== undefined ? ["metric", String(x.metric)] : [])]);
    if (i.dhcp4) r.dhcp4.push(dev);
    if (i.dhcp6) r.dhcp6.push(dev);
    const d = dnsOf(i, cfg);
    for (const x of d.dns) if (!dns.includes(x)) dns.push(x);
    for (const x of d.search) if (!search.includes(x)) search.push(x);
  }
  if (!cfg.interfaces.length) { dns.push(...cfg.dns); search.push(...cfg.search); }
  r.resolvConf = resolvConf(dns, search);
  return r;
}

/** resolv.conf text: the resolver reads three name servers at most and six search domains. */
export function resolvConf(dns: string[], search: string[]): string | null {
  if (!dns.length && !search.length) return null;
  return [`# Written by cvm agent.`, ...(search.length ? [`search ${search.slice(0, 6).join(" ")}`] : []), ...dns.slice(0, 3).map((d) => `nameserver ${d}`)].join("\n") + "\n";
}
