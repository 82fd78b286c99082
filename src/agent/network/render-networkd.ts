import { escapeName } from "../../cli/output";
import { dnsOf, type Interface, type NetworkConfig } from "./model";

export const NETWORKD_DIR = "/etc/systemd/network";

/** The file an interface's configuration goes to: by name, else by MAC (10- so it wins over a distribution's defaults). */
export const networkdPath = (i: Interface) => `${NETWORKD_DIR}/10-cvm-${i.name ?? i.mac!.replace(/:/g, "")}.network`;

/**
 * systemd-networkd: one `.network` file per interface, matched by MAC (else
 * by name), with its addresses, gateways, routes, DNS and MTU; DHCP and
 * router advertisements as the source asks.
 */
export function renderNetworkd(cfg: NetworkConfig): { path: string; content: string }[] {
  return cfg.interfaces.map((i) => {
    const out = [`# Written by cvm agent from ${escapeName(cfg.from)} (${i.label}).`, "[Match]"];
    out.push(i.mac ? `MACAddress=${i.mac}` : `Name=${i.name}`);
    if (i.mtu !== undefined) out.push("", "[Link]", `MTUBytes=${i.mtu}`);
    out.push("", "[Network]", `DHCP=${i.dhcp4 && i.dhcp6 ? "yes" : i.dhcp4 ? "ipv4" : i.dhcp6 ? "ipv6" : "no"}`);
    if (i.acceptRa !== undefined) out.push(`IPv6AcceptRA=${i.acceptRa ? "yes" : "no"}`);
    for (const a of i.addresses) out.push(`Address=${a.address}/${a.prefix}`);
    if (i.gateway4) out.push(`Gateway=${i.gateway4}`);
    if (i.gateway6) out.push(`Gateway=${i.gateway6}`);
    const { dns, search } = dnsOf(i, cfg);
    for (const d of dns) out.push(`DNS=${d}`);
    if (search.length) out.push(`Domains=${search.join(" ")}`);
    for (const r of i.routes) {
      out.push("", "[Route]", `Destination=${r.to}/${r.prefix}`, `Gateway=${r.via}`);
      if (r.metric !== undefined) out.push(`Metric=${r.metric}`);
    }
    return { path: networkdPath(i), content: out.join("\n") + "\n" };
  });
}
