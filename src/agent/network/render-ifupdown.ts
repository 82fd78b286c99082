import { escapeName } from "../../cli/output";
import { dnsOf, findNic, type Interface, type NetworkConfig, type SystemNic } from "./model";

export const IFUPDOWN_FILE = "/etc/network/interfaces.d/50-cvm";

/**
 * ifupdown: stanzas for /etc/network/interfaces.d. ifupdown knows interfaces
 * by name only, so one known only by its MAC takes the name the system gives
 * it (`nics`) or is left out (`skipped`). Routes are `up ip route add …`
 * lines of checked addresses only. `dns-*` lines need resolvconf; the agent
 * writes /etc/resolv.conf as well.
 */
export function renderIfupdown(cfg: NetworkConfig, nics: SystemNic[] = []): { content: string; skipped: Interface[] } {
  const out = [`# Written by cvm agent from ${escapeName(cfg.from)}.`];
  const skipped: Interface[] = [];
  for (const i of cfg.interfaces) {
    const name = i.name ?? findNic(i, nics)?.name;
    if (!name) { skipped.push(i); continue; }
    const { dns, search } = dnsOf(i, cfg);
    const v4 = i.addresses.filter((a) => a.family === 4), v6 = i.addresses.filter((a) => a.family === 6);
    out.push("", `auto ${name}`);
    const extra = (family: 4 | 6, first: boolean) => {
      const lines: string[] = [];
      if (first && i.mtu !== undefined) lines.push(`    mtu ${i.mtu}`);
      if (first && dns.length) lines.push(`    dns-nameservers ${dns.join(" ")}`);
      if (first && search.length) lines.push(`    dns-search ${search.join(" ")}`);
      for (const r of i.routes.filter((x) => x.family === family))
        lines.push(`    up ip ${family === 6 ? "-6 " : ""}route add ${r.to}/${r.prefix} via ${r.via} dev ${name}${r.metric !== undefined ? ` metric ${r.metric}` : ""}`);
      return lines;
    };
    let first = true;
    if (i.dhcp4) { out.push(`iface ${name} inet dhcp`, ...extra(4, first)); first = false; }
    else if (v4.length) {
      out.push(`iface ${name} inet static`, ...v4.map((a, n) => `    ${n ? "up ip addr add" : "address"} ${a.address}/${a.prefix}${n ? ` dev ${name}` : ""}`));
      if (i.gateway4) out.push(`    gateway ${i.gateway4}`);
      out.push(...extra(4, first));
      first = false;
    }
    if (i.dhcp6) { out.push(`iface ${name} inet6 dhcp`, ...extra(6, first)); first = false; }
    else if (v6.length) {
      out.push(`iface ${name} inet6 static`, ...v6.map((a, n) => `    ${n ? "up ip -6 addr add" : "address"} ${a.address}/${a.prefix}${n ? ` dev ${name}` : ""}`));
      if (i.gateway6) out.push(`    gateway ${i.gateway6}`);
      if (i.acceptRa === false) out.push("    accept_ra 0");
      out.push(...extra(6, first));
      first = false;
    } else if (i.acceptRa) { out.push(`iface ${name} inet6 auto`, ...extra(6, first)); first = false; }
    if (first) out.push(`iface ${name} inet manual`, ...extra(4, true));
  }
  return { content: out.join("\n") + "\n", skipped };
}
