import { CvmError } from "../../cli/errors";
import { escapeName } from "../../cli/output";
import { addRoute, MAX_ITEMS } from "./common";
import { bad, checkNetwork, domain, hostAddress, ifName, interfaceAddress, list, mac, mtu, newInterface, pushUnique, type Interface, type NetworkConfig, type SystemNic } from "./model";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);

/**
 * cloud-init's network configuration (NoCloud's `network-config` file),
 * version 1 or 2, optionally under a top-level `network:` key, already
 * parsed from YAML → the network model. Physical interfaces / ethernets
 * only: bonds, bridges, VLANs and Wi-Fi are warned of and left out, as is a
 * v2 `match` by a name pattern (`en*`). A `disabled` config (`config: disabled`) is none.
 */
export function networkFromCloudInit(doc: unknown, where: string, warn: (s: string) => void, nics?: SystemNic[]): NetworkConfig | null {
  let d = doc;
  if (isObj(d) && isObj(d.network)) d = d.network;
  if (d === null || d === undefined) return null;
  if (!isObj(d)) throw new CvmError(`${where}: expected a YAML mapping with version 1 or 2`);
  if (d.config === "disabled") return null;
  const cfg: NetworkConfig = { from: where, interfaces: [], dns: [], search: [] };
  if (d.version === 1 || d.version === "1") fromV1(d, cfg, where, warn);
  else if (d.version === 2 || d.version === "2") fromV2(d, cfg, where, warn);
  else throw bad(where, "version", d.version ?? "", "expected 1 or 2");
  if (!cfg.interfaces.length && !cfg.dns.length) return null;
  return checkNetwork(cfg, nics);
}

const yes = (v: unknown) => v === true || (typeof v === "string" && ["true", "yes", "on"].includes(v.toLowerCase()));

function fromV1(d: Obj, cfg: NetworkConfig, where: string, warn: (s: string) => void): void {
  const items = d.config ?? [];
  if (!Array.isArray(items) || items.length > MAX_ITEMS) throw bad(where, "config", items, `expected a list of at most ${MAX_ITEMS} entries`);
  for (const [n, item] of items.entries()) {
    const at = `config[${n}]`;
    if (!isObj(item)) throw bad(where, at, item, "expected a mapping");
    const type = String(item.type);
    if (type === "nameserver") {
      for (const a of list(item.address, where, `${at}.address`)) pushUnique(cfg.dns, hostAddress(a, where, `${at}.address`).address);
      for (const s of list(item.search, where, `${at}.search`)) pushUnique(cfg.search, domain(s, where, `${at}.search`));
      continue;
    }
    if (type !== "physical") { warn(`${where}: ${at}: type ${escapeName(type.slice(0, 20))} is not supported; left out`); continue; }
    const i = newInterface(item.name !== undefined ? String(item.name).slice(0, 20) : at);
    if (item.name !== undefined) i.name = ifName(item.name, where, `${at}.name`);
    if (item.mac_address !== undefined) i.mac = mac(item.mac_address, where, `${at}.mac_address`);
    if (item.mtu !== undefined && item.mtu !== null) i.mtu = mtu(item.mtu, where, `${at}.mtu`);
    const subnets = item.subnets ?? [];
    if (!Array.isArray(subnets) || subnets.length > MAX_ITEMS) throw bad(where, `${at}.subnets`, subnets, "expected a list");
    for (const [m, sn] of subnets.entries()) {
      const sat = `${at}.subnets[${m}]`;
      if (!isObj(sn)) throw bad(where, sat, sn, "expected a mapping");
      subnetV1(i, sn, where, sat, warn);
    }
    cfg.interfaces.push(i);
  }
}

function subnetV1(i: Interface, sn: Obj, where: string, at: string, warn: (s: string) => void): void {
  const type = String(sn.type);
  switch (type) {
    case "dhcp": case "dhcp4": i.dhcp4 = true; break;
    case "dhcp6": case "ipv6_dhcpv6-stateful": i.dhcp6 = true; break;
    case "ipv6_slaac": case "ipv6_dhcpv6-stateless": i.acceptRa = true; break;
    case "manual": break;
    case "static": case "static6": {
      const a = interfaceAddress(sn.address, sn.prefix ?? sn.netmask, where, `${at}.address`, type === "static6" ? 6 : undefined);
      i.addresses.push(a);
      if (sn.gateway !== undefined && sn.gateway !== null) {
        const gw = hostAddress(sn.gateway, where, `${at}.gateway`, a.family).address;
        if (a.family === 4) i.gateway4 = gw; else i.gateway6 = gw;
      }
      break;
    }
    default:
      warn(`${where}: ${at}: subnet type ${escapeName(type.slice(0, 30))} is not supported; left out`);
      return;
  }
  for (const a of list(sn.dns_nameservers, where, `${at}.dns_nameservers`)) pushUnique(i.dns, hostAddress(a, where, `${at}.dns_nameservers`).address);
  for (const s of list(sn.dns_search, where, `${at}.dns_search`)) pushUnique(i.search, domain(s, where, `${at}.dns_search`));
  const routes = sn.routes ?? [];
  if (!Array.isArray(routes) || routes.length > MAX_ITEMS) throw bad(where, `${at}.routes`, routes, "expected a list");
  for (const [r, route] of routes.entries()) {
    if (!isObj(route)) throw bad(where, `${at}.routes[${r}]`, route, "expected a mapping");
    addRoute(i, route.network ?? route.destination, route.prefix ?? route.netmask, route.gateway, route.metric, where, `${at}.routes[${r}]`);
  }
}

function fromV2(d: Obj, cfg: NetworkConfig, where: string, warn: (s: string) => void): void {
  for (const kind of ["bonds", "bridges", "vlans", "wifis", "tunnels", "vrfs", "modems"])
    if (d[kind] !== undefined) warn(`${where}: ${kind}: not supported; left out`);
  const eths = d.ethernets ?? {};
  if (!isObj(eths) || Object.keys(eths).length > MAX_ITEMS) throw bad(where, "ethernets", eths, `expected a mapping of at most ${MAX_ITEMS} interfaces`);
  for (const [key, e] of Object.entries(eths)) {
    const at = `ethernets.${escapeName(key.slice(0, 20))}`;
    if (!isObj(e)) throw bad(where, at, e, "expected a mapping");
    const i = newInterface(key.slice(0, 20));
    const match = e.match;
    if (match !== undefined) {
      if (!isObj(match)) throw bad(where, `${at}.match`, match, "expected a mapping");
      if (match.macaddress !== undefined) i.mac = mac(match.macaddress, where, `${at}.match.macaddress`);
      if (match.name !== undefined) {
        if (/[*?[]/.test(String(match.name))) { warn(`${where}: ${at}: match by a name pattern is not supported; left out`); continue; }
        i.name = ifName(match.name, where, `${at}.match.name`);
      }
      if (!i.mac && !i.name) { warn(`${where}: ${at}: match by driver only is not supported; left out`); continue; }
    } else {
      i.name = ifName(key, where, at);
    }
    if (yes(e.dhcp4)) i.dhcp4 = true;
    if (yes(e.dhcp6)) i.dhcp6 = true;
    if (e["accept-ra"] !== undefined) i.acceptRa = yes(e["accept-ra"]);
    if (e.mtu !== undefined) i.mtu = mtu(e.mtu, where, `${at}.mtu`);
    const addrs = e.addresses ?? [];
    if (!Array.isArray(addrs) || addrs.length > MAX_ITEMS) throw bad(where, `${at}.addresses`, addrs, "expected a list");
    for (const a of addrs) i.addresses.push(interfaceAddress(isObj(a) ? Object.keys(a)[0] : a, undefined, where, `${at}.addresses`));
    if (e.gateway4 !== undefined) i.gateway4 = hostAddress(e.gateway4, where, `${at}.gateway4`, 4).address;
    if (e.gateway6 !== undefined) i.gateway6 = hostAddress(e.gateway6, where, `${at}.gateway6`, 6).address;
    const routes = e.routes ?? [];
    if (!Array.isArray(routes) || routes.length > MAX_ITEMS) throw bad(where, `${at}.routes`, routes, "expected a list");
    for (const [r, route] of routes.entries()) {
      if (!isObj(route)) throw bad(where, `${at}.routes[${r}]`, route, "expected a mapping");
      addRoute(i, route.to, undefined, route.via, route.metric, where, `${at}.routes[${r}]`);
    }
    const ns = e.nameservers;
    if (ns !== undefined) {
      if (!isObj(ns)) throw bad(where, `${at}.nameservers`, ns, "expected a mapping");
      for (const a of list(ns.addresses, where, `${at}.nameservers.addresses`)) pushUnique(i.dns, hostAddress(a, where, `${at}.nameservers.addresses`).address);
      for (const s of list(ns.search, where, `${at}.nameservers.search`)) pushUnique(i.search, domain(s, where, `${at}.nameservers.search`));
    }
    cfg.interfaces.push(i);
  }
}
