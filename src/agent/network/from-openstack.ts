import { CvmError } from "../../cli/errors";
import { escapeName } from "../../cli/output";
import { addRoute, MAX_ITEMS } from "./common";
import { bad, checkNetwork, domain, hostAddress, ifName, interfaceAddress, list, mac, mtu, newInterface, pushUnique, type Interface, type NetworkConfig, type SystemNic } from "./model";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);

/** Link types that are one guest NIC (as cloud-init's list of physical types); bonds and VLANs are not supported. */
const PHYSICAL = new Set(["ethernet", "phy", "ovs", "tap", "vhostuser", "vif", "bridge", "hw_veb", "dvs", "vrouter", "hyperv", "vdpa"]);

/**
 * OpenStack config drive `openstack/latest/network_data.json` → the network
 * model: `links` (one NIC each: `ethernet_mac_address`, `mtu`, an optional
 * `name`), the `networks` on them (`ipv4`/`ipv6` static with `ip_address`,
 * `netmask`, `gateway`, `routes`, per-network `services` of type dns;
 * `ipv4_dhcp`, `ipv6_dhcp`, `ipv6_slaac`, `ipv6_dhcpv6-stateless`/`-stateful`)
 * and the top-level dns `services`. Bond and VLAN links are warned of and left out.
 */
export function networkFromOpenStack(json: unknown, where: string, warn: (s: string) => void, nics?: SystemNic[]): NetworkConfig | null {
  if (!isObj(json)) throw new CvmError(`${where}: not a JSON object`);
  const arr = (key: string): Obj[] => {
    const v = json[key] ?? [];
    if (!Array.isArray(v) || v.length > MAX_ITEMS || !v.every(isObj)) throw new CvmError(`${where}: ${key}: expected a list of at most ${MAX_ITEMS} objects`);
    return v as Obj[];
  };
  const links = arr("links"), networks = arr("networks"), services = arr("services");
  const cfg: NetworkConfig = { from: where, interfaces: [], dns: [], search: [] };
  const byId = new Map<string, Interface>();
  for (const [n, link] of links.entries()) {
    const at = `links[${n}]`;
    const id = String(link.id ?? at);
    const type = String(link.type ?? "phy");
    if (!PHYSICAL.has(type)) { warn(`${where}: ${at} (${escapeName(id.slice(0, 40))}): link type ${escapeName(type.slice(0, 20))} is not supported; left out`); continue; }
    const i = newInterface(`link ${id.slice(0, 40)}`);
    if (link.ethernet_mac_address !== undefined) i.mac = mac(link.ethernet_mac_address, where, `${at}.ethernet_mac_address`);
    if (link.name !== undefined) i.name = ifName(link.name, where, `${at}.name`);
    if (link.mtu !== undefined && link.mtu !== null) i.mtu = mtu(link.mtu, where, `${at}.mtu`);
    byId.set(id, i);
    cfg.interfaces.push(i);
  }
  for (const [n, net] of networks.entries()) {
    const at = `networks[${n}]`;
    const i = byId.get(String(net.link));
    if (!i) { warn(`${where}: ${at}: on link ${escapeName(String(net.link).slice(0, 40))}, which is not a supported link; left out`); continue; }
    const type = String(net.type);
    switch (type) {
      case "ipv4_dhcp": i.dhcp4 = true; break;
      case "ipv6_dhcp": case "ipv6_dhcpv6-stateful": i.dhcp6 = true; i.acceptRa = true; break;
      case "ipv6_slaac": case "ipv6_dhcpv6-stateless": i.acceptRa = true; break;
      case "ipv4": case "static": case "ipv6": case "static6": {
        const family = type === "ipv4" || type === "static" ? 4 : 6;
        i.addresses.push(interfaceAddress(net.ip_address, net.netmask, where, `${at}.ip_address`, family));
        if (family === 6) i.acceptRa = false;
        if (net.gateway !== undefined && net.gateway !== null && net.gateway !== "") {
          const gw = hostAddress(net.gateway, where, `${at}.gateway`, family).address;
          if (family === 4) i.gateway4 = gw; else i.gateway6 = gw;
        }
        const routes = net.routes ?? [];
        if (!Array.isArray(routes) || routes.length > MAX_ITEMS) throw bad(where, `${at}.routes`, routes, "expected a list");
        for (const [r, route] of routes.entries()) {
          if (!isObj(route)) throw bad(where, `${at}.routes[${r}]`, route, "expected an object");
          addRoute(i, route.network, route.netmask, route.gateway, undefined, where, `${at}.routes[${r}]`);
        }
        break;
      }
      default:
        warn(`${where}: ${at}: network type ${escapeName(type.slice(0, 30))} is not supported; left out`);
        continue;
    }
    for (const s of dnsServices(net.services, where, `${at}.services`)) pushUnique(i.dns, s);
    if (net.dns_nameservers !== undefined) for (const d of list(net.dns_nameservers, where, `${at}.dns_nameservers`)) pushUnique(i.dns, hostAddress(d, where, `${at}.dns_nameservers`).address);
    if (net.dns_search !== undefined) for (const d of list(net.dns_search, where, `${at}.dns_search`)) pushUnique(i.search, domain(d, where, `${at}.dns_search`));
  }
  for (const s of dnsServices(services, where, "services")) pushUnique(cfg.dns, s);
  if (!cfg.interfaces.length && !cfg.dns.length) return null;
  return checkNetwork(cfg, nics);
}

function dnsServices(v: unknown, where: string, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > MAX_ITEMS) throw bad(where, field, v, "expected a list");
  return v.filter((s) => isObj(s) && s.type === "dns").map((s, n) => hostAddress((s as Obj).address, where, `${field}[${n}].address`).address);
}
