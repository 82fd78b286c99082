import { TAG } from "./der";

/** A distinguished name as encoded: RDNs in order, each a set of attribute values. */
export type Name = Attribute[][];
export interface Attribute { oid: string; tag: number; value: Uint8Array; }

// OpenSSL's short names (OBJ_nid2sn) for the attributes grid DNs use.
const SHORT_NAMES: Record<string, string> = {
  "2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "serialNumber", "2.5.4.6": "C", "2.5.4.7": "L",
  "2.5.4.8": "ST", "2.5.4.9": "street", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.12": "title",
  "2.5.4.13": "description", "2.5.4.15": "businessCategory", "2.5.4.17": "postalCode",
  "2.5.4.41": "name", "2.5.4.42": "GN", "2.5.4.43": "initials", "2.5.4.44": "generationQualifier",
  "2.5.4.46": "dnQualifier", "2.5.4.65": "pseudonym", "2.5.4.97": "organizationIdentifier",
  "0.9.2342.19200300.100.1.1": "UID", "0.9.2342.19200300.100.1.25": "DC",
  "1.2.840.113549.1.9.1": "emailAddress",
};

const label = (oid: string) => SHORT_NAMES[oid] ?? oid;

/** The value's bytes as OpenSSL sees them for printing (BMP/Universal narrowed when they are ASCII). */
function valueBytes(a: Attribute): Uint8Array {
  const width = a.tag === TAG.BMPString ? 2 : a.tag === TAG.UniversalString ? 4 : 1;
  if (width === 1 || a.value.length % width) return a.value;
  const narrow: number[] = [];
  for (let i = 0; i < a.value.length; i += width) {
    if (a.value.subarray(i, i + width - 1).some((b) => b !== 0)) return a.value;
    narrow.push(a.value[i + width - 1]);
  }
  return Uint8Array.from(narrow);
}

const hex = (b: number) => "\\x" + b.toString(16).toUpperCase().padStart(2, "0");

const onelineValue = (a: Attribute) =>
  label(a.oid) + "=" + Array.from(valueBytes(a), (b) => (b >= 0x20 && b <= 0x7e ? String.fromCharCode(b) : hex(b))).join("");

/** OpenSSL's X509_NAME_oneline form, as grid-proxy-info prints: `/DC=org/O=Test/CN=Jane Doe` (`+` inside an RDN). */
export function oneline(name: Name): string {
  return name.map((rdn) => "/" + rdn.map(onelineValue).join("+")).join("");
}

/**
 * RFC 2253 form as OpenSSL's XN_FLAG_RFC2253 prints it: the whole entry list
 * reversed (values inside a multi-valued RDN too), `,` between RDNs, `+` within.
 */
export function rfc2253(name: Name): string {
  const entries = name.flatMap((rdn, set) => rdn.map((a) => ({ a, set }))).reverse();
  return entries
    .map(({ a, set }, i) => (i === 0 ? "" : entries[i - 1].set === set ? "+" : ",") + label(a.oid) + "=" + escape2253(valueBytes(a)))
    .join("");
}

function escape2253(bytes: Uint8Array): string {
  let out = "";
  bytes.forEach((b, i) => {
    const c = String.fromCharCode(b);
    if (b < 0x20 || b > 0x7e) out += "\\" + b.toString(16).toUpperCase().padStart(2, "0");
    else if (',+"\\<>;'.includes(c) || (i === 0 && (c === "#" || c === " ")) || (i === bytes.length - 1 && c === " ")) out += "\\" + c;
    else out += c;
  });
  return out;
}

/** The value of a single-valued last RDN when it is a CN, else undefined. */
export function lastCommonName(name: Name): string | undefined {
  const last = name[name.length - 1];
  if (!last || last.length !== 1 || last[0].oid !== "2.5.4.3") return undefined;
  return new TextDecoder().decode(valueBytes(last[0]));
}
