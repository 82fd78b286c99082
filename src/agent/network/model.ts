import { isIPv4, isIPv6 } from "node:net";
import { CvmError } from "../../cli/errors";
import { escapeName } from "../../cli/output";
import { validHostname } from "../names";

/**
 * The network configuration a context gives, whatever its format
 * (OpenNebula ETH<n>_* variables, OpenStack network_data.json, NoCloud
 * network-config v1/v2): one model, every value checked when it is built, so
 * the renderers (networkd, ifupdown, live `ip` commands) only format it.
 */

export type Family = 4 | 6;
export interface Address { address: string; prefix: number; family: Family; }
export interface Route { to: string; prefix: number; via: string; family: Family; metric?: number; }

export interface Interface {
  /** What the source calls it (`ETH0`, a link id, a v2 key): for messages only. */
  label: string;
  /** The kernel name, when the source gives one that is meant as such; matched when there is no MAC. */
  name?: string;
  /** Lower-case `aa:bb:cc:dd:ee:ff`; the interface is found by it first. */
  mac?: string;
  dhcp4: boolean;
  dhcp6: boolean;
  /** IPv6 router advertisements (SLAAC); undefined: the system's default. */
  acceptRa?: boolean;
  addresses: Address[];
  gateway4?: string;
  gateway6?: string;
  routes: Route[];
  dns: string[];
  search: string[];
  mtu?: number;
}

export interface NetworkConfig {
  /** The file or variables it came from, for the plan and the files' header. */
  from: string;
  interfaces: Interface[];
  /** Name servers and search domains not tied to one interface. */
  dns: string[];
  search: string[];
}

/** A system interface as the kernel names it: the appliance and the real root pass theirs. */
export interface SystemNic { name: string; mac: string; }

/** A new interface; its label comes from the source and is escaped here, once, since messages and file comments show it. */
export const newInterface = (label: string): Interface => ({ label: escapeName(label), dhcp4: false, dhcp6: false, addresses: [], routes: [], dns: [], search: [] });

/** `where: field: 'value': why` — the one line every refusal is. */
export function bad(where: string, field: string, value: unknown, why: string): CvmError {
  const v = typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  return new CvmError(`${where}: ${field}: '${escapeName(String(v).slice(0, 80))}': ${why}`);
}

const text = (v: unknown) => (typeof v === "string" ? v.trim() : typeof v === "number" ? String(v) : undefined);

export function familyOf(a: string): Family | undefined {
  return isIPv4(a) ? 4 : isIPv6(a) && !a.includes("%") ? 6 : undefined;
}

const v4Octets = (a: string) => a.split(".").map(Number);

/** An address a host may use: not unspecified, loopback, multicast or broadcast. */
function unicast(a: string, family: Family): boolean {
  if (family === 4) {
    const o = v4Octets(a);
    return !(o[0] === 0 || o[0] === 127 || o[0] >= 224);
  }
  const x = a.toLowerCase();
  return !(x === "::" || x === "::1" || x.startsWith("ff"));
}

/** A host address (interface, gateway, name server) of either family, or of the one given. */
export function hostAddress(v: unknown, where: string, field: string, family?: Family): { address: string; family: Family } {
  const s = text(v);
  const f = s !== undefined ? familyOf(s) : undefined;
  if (s === undefined || !f) throw bad(where, field, v, family === 6 ? "expected an IPv6 address" : family === 4 ? "expected an IPv4 address (a.b.c.d)" : "expected an IPv4 or IPv6 address");
  if (family && f !== family) throw bad(where, field, s, `expected an IPv${family} address`);
  if (!unicast(s, f)) throw bad(where, field, s, "not a unicast address (unspecified, loopback, multicast or broadcast)");
  return { address: f === 6 ? s.toLowerCase() : s, family: f };
}

/** A dotted IPv4 netmask → its prefix length; a mask with holes is refused. */
export function maskToPrefix(v: unknown, where: string, field: string): number {
  const s = text(v);
  if (s === undefined || !isIPv4(s)) throw bad(where, field, v, "expected a netmask such as 255.255.255.0");
  const bits = v4Octets(s).reduce((n, o) => (n << 8) | o, 0) >>> 0;
  const prefix = 32 - Math.log2((~bits >>> 0) + 1);
  if (!Number.isInteger(prefix)) throw bad(where, field, s, "not a contiguous netmask");
  return prefix;
}

/** A prefix length (`24`, or an IPv6 mask `ffff:ffff::`) for the family. */
export function prefixOf(v: unknown, family: Family, where: string, field: string): number {
  const s = text(v);
  if (s !== undefined && /^\d{1,3}$/.test(s)) {
    const n = Number(s);
    if (n <= (family === 4 ? 32 : 128)) return n;
  }
  if (s !== undefined && family === 4 && isIPv4(s)) return maskToPrefix(s, where, field);
  if (s !== undefined && family === 6 && isIPv6(s)) {
    const bin = expand6(s).map((h) => parseInt(h, 16).toString(2).padStart(16, "0")).join("");
    if (/^1*0*$/.test(bin)) return bin.indexOf("0") < 0 ? 128 : bin.indexOf("0");
    throw bad(where, field, s, "not a contiguous netmask");
  }
  throw bad(where, field, v, family === 4 ? "expected a prefix length 0-32 or a netmask" : "expected a prefix length 0-128");
}

function expand6(a: string): string[] {
  let s = a;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) { const o = v4Octets(v4[1]); s = s.slice(0, -v4[1].length) + `${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`; }
  const [head, tail] = s.includes("::") ? s.split("::") : [s, undefined];
  const h = head ? head.split(":") : [], t = tail ? tail.split(":") : [];
  return tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
}

/** `10.0.0.5/24`, or an address with the prefix given apart (`prefixValue`, a length or a netmask). */
export function interfaceAddress(v: unknown, prefixValue: unknown, where: string, field: string, family?: Family): Address {
  const s = text(v);
  if (s === undefined) throw bad(where, field, v, "expected an address");
  const slash = s.indexOf("/");
  const { address, family: f } = hostAddress(slash < 0 ? s : s.slice(0, slash), where, field, family);
  const p = slash >= 0 ? s.slice(slash + 1) : prefixValue;
  if (p === undefined || p === null || p === "") throw bad(where, field, s, "no prefix length or netmask given");
  const prefix = prefixOf(p, f, where, field);
  if (prefix === 0) throw bad(where, field, s, "a prefix length of 0 is no interface address");
  return { address, prefix, family: f };
}

/** A route's destination: a network (`10.1.0.0/16`, or `default`, `0.0.0.0/0`, `::/0`). */
export function routeDestination(v: unknown, prefixValue: unknown, where: string, field: string): { to: string; prefix: number; family: Family } {
  const s = text(v);
  if (s === "default") return { to: "0.0.0.0", prefix: 0, family: 4 };
  if (s === undefined) throw bad(where, field, v, "expected a network such as 10.1.0.0/16");
  const slash = s.indexOf("/");
  const a = slash < 0 ? s : s.slice(0, slash);
  const f = familyOf(a);
  if (!f) throw bad(where, field, s, "expected a network such as 10.1.0.0/16");
  const p = slash >= 0 ? s.slice(slash + 1) : prefixValue ?? (f === 4 ? 32 : 128);
  return { to: f === 6 ? a.toLowerCase() : a, prefix: prefixOf(p, f, where, field), family: f };
}

export function mac(v: unknown, where: string, field: string): string {
  const s = text(v)?.toLowerCase();
  if (s === undefined || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(s)) throw bad(where, field, v, "expected a MAC address aa:bb:cc:dd:ee:ff");
  if (parseInt(s.slice(0, 2), 16) & 1) throw bad(where, field, s, "a multicast address is no interface's");
  if (s === "00:00:00:00:00:00") throw bad(where, field, s, "expected an interface's MAC address");
  return s;
}

/** A kernel interface name: at most 15 characters, no '/', no space, not '.' or '..'. */
export function ifName(v: unknown, where: string, field: string): string {
  const s = text(v);
  if (s === undefined || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(s)) throw bad(where, field, v, "expected an interface name (letters, digits, '_', '.', '-'; 15 at most)");
  return s;
}

export function mtu(v: unknown, where: string, field: string): number {
  const s = text(v);
  const n = s !== undefined && /^\d{1,5}$/.test(s) ? Number(s) : NaN;
  if (!(n >= 68 && n <= 65535)) throw bad(where, field, v, "expected an MTU of 68 to 65535");
  return n;
}

/** A search domain: a host name, nothing a resolver or config file would read as more. */
export function domain(v: unknown, where: string, field: string): string {
  const s = text(v)?.replace(/\.$/, "");
  if (!s || !validHostname(s)) throw bad(where, field, v, "expected a domain name (letters, digits, inner '-', dot-separated)");
  return s.toLowerCase();
}

/** A list given as a YAML/JSON list or as one string separated by spaces or commas. */
export function list(v: unknown, where: string, field: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v;
  if (typeof v === "string") return v.split(/[\s,]+/).filter(Boolean);
  throw bad(where, field, v, "expected a list");
}

export function pushUnique<T>(to: T[], ...items: T[]): void {
  for (const x of items) if (!to.includes(x)) to.push(x);
}

/**
 * The checks across interfaces, once the model is built: a MAC or a name
 * given twice, an interface with neither, a gateway of a family it has no
 * address for, and, with the system's interfaces, a MAC that belongs to
 * another interface than the one named.
 */
export function checkNetwork(cfg: NetworkConfig, nics?: SystemNic[]): NetworkConfig {
  const macs = new Map<string, string>(), names = new Map<string, string>();
  for (const i of cfg.interfaces) {
    const where = `${cfg.from}: ${i.label}`;
    if (!i.mac && !i.name) throw new CvmError(`${where}: neither a MAC address nor an interface name; cannot tell which interface it is`);
    if (i.mac) {
      if (macs.has(i.mac)) throw bad(where, "MAC", i.mac, `given to ${macs.get(i.mac)} as well`);
      macs.set(i.mac, i.label);
    }
    if (i.name) {
      if (names.has(i.name)) throw bad(where, "name", i.name, `given to ${names.get(i.name)} as well`);
      names.set(i.name, i.label);
    }
    if (i.gateway4 && !i.addresses.some((a) => a.family === 4) && !i.dhcp4) throw bad(where, "IPv4 gateway", i.gateway4, "the interface has no IPv4 address");
    if (i.mac && i.name && nics) {
      const owner = nics.find((n) => n.mac === i.mac);
      if (owner && owner.name !== i.name) throw bad(where, "MAC", i.mac, `belongs to ${owner.name}, not ${i.name}`);
    }
  }
  return cfg;
}

/** The system interface an interface of the model is (by MAC, else by name), if it is there. */
export function findNic(i: Interface, nics: SystemNic[]): SystemNic | undefined {
  return i.mac ? nics.find((n) => n.mac === i.mac) : nics.find((n) => n.name === i.name);
}

/** The name servers an interface uses: its own, then those not tied to one. */
export function dnsOf(i: Interface, cfg: NetworkConfig): { dns: string[]; search: string[] } {
  const dns = [...i.dns], search = [...i.search];
  pushUnique(dns, ...cfg.dns);
  pushUnique(search, ...cfg.search);
  return { dns, search };
}
