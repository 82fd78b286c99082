/**
 * Minimal DER reading and writing: enough to take certificates apart without
 * re-encoding them (proxy subjects must keep the issuer's exact bytes) and to
 * build the few small structures a proxy needs.
 */

export const TAG = {
  BOOLEAN: 0x01, INTEGER: 0x02, BIT_STRING: 0x03, OCTET_STRING: 0x04, NULL: 0x05, OID: 0x06,
  UTF8String: 0x0c, PrintableString: 0x13, T61String: 0x14, IA5String: 0x16, UTCTime: 0x17,
  GeneralizedTime: 0x18, VisibleString: 0x1a, UniversalString: 0x1c, BMPString: 0x1e,
  SEQUENCE: 0x30, SET: 0x31,
} as const;

/** One TLV inside `buf`: tag, where its content starts and where it ends. */
export interface Tlv { tag: number; start: number; contentStart: number; end: number; }

export class DerError extends Error {}

export function readTlv(buf: Uint8Array, offset = 0, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError("truncated DER");
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError("multi-byte DER tags are not supported");
  let pos = offset + 1;
  let len = buf[pos++];
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || pos + n > limit) throw new DerError("bad DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos++];
  }
  if (pos + len > limit) throw new DerError("DER value runs past its container");
  return { tag, start: offset, contentStart: pos, end: pos + len };
}

export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = parent.contentStart; pos < parent.end; ) {
    const t = readTlv(buf, pos, parent.end);
    out.push(t);
    pos = t.end;
  }
  return out;
}

const hexTag = (tag: number) => `0x${tag.toString(16).padStart(2, "0")}`;
const wrongTag = (what: string, got: number, want: number) => new DerError(`${what} has tag ${hexTag(got)}, expected ${hexTag(want)}`);

/** `t` when it is there with the tag the structure requires, else a DerError naming the field. */
export function need(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t) throw new DerError(`${what} is missing`);
  if (t.tag !== tag) throw wrongTag(what, t.tag, tag);
  return t;
}

/** A whole buffer that must be exactly one value with the given tag (no trailing bytes). */
export function readOnly(buf: Uint8Array, tag: number, what: string): Tlv {
  if (buf.length && buf[0] !== tag) throw wrongTag(what, buf[0], tag); // a wrong tag says more than the length it is followed by
  const t = need(readTlv(buf), tag, what);
  if (t.end !== buf.length) throw new DerError(`${buf.length - t.end} stray bytes after the ${what}`);
  return t;
}

export const content = (buf: Uint8Array, t: Tlv) => buf.subarray(t.contentStart, t.end);
export const whole = (buf: Uint8Array, t: Tlv) => buf.subarray(t.start, t.end);

export function encode(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const lenBytes: number[] = [];
  if (len < 0x80) lenBytes.push(len);
  else {
    for (let l = len; l > 0; l = Math.floor(l / 256)) lenBytes.unshift(l & 0xff);
    lenBytes.unshift(0x80 | lenBytes.length);
  }
  const out = new Uint8Array(1 + lenBytes.length + len);
  out[0] = tag;
  out.set(lenBytes, 1);
  let pos = 1 + lenBytes.length;
  for (const p of parts) { out.set(p, pos); pos += p.length; }
  return out;
}

export function encodeOid(oid: string): Uint8Array {
  const arcs = oid.split(".").map((a) => BigInt(a));
  const bytes: number[] = [];
  const push = (v: bigint) => {
    const chunk: number[] = [Number(v & 0x7fn)];
    for (v >>= 7n; v > 0n; v >>= 7n) chunk.unshift(Number(v & 0x7fn) | 0x80);
    bytes.push(...chunk);
  };
  push(arcs[0] * 40n + arcs[1]);
  arcs.slice(2).forEach(push);
  return encode(TAG.OID, Uint8Array.from(bytes));
}

export function decodeOid(bytes: Uint8Array): string {
  const arcs: bigint[] = [];
  let v = 0n;
  for (const b of bytes) {
    v = (v << 7n) | BigInt(b & 0x7f);
    if (!(b & 0x80)) { arcs.push(v); v = 0n; }
  }
  if (!arcs.length || bytes[bytes.length - 1] & 0x80) throw new DerError("empty or truncated OID");
  const first = arcs[0] < 80n ? arcs[0] / 40n : 2n;
  return [first, arcs[0] - first * 40n, ...arcs.slice(1)].join(".");
}

/** A non-negative INTEGER in minimal DER form. */
export function encodeUnsigned(n: number | bigint): Uint8Array {
  let v = BigInt(n);
  const bytes: number[] = [];
  do { bytes.unshift(Number(v & 0xffn)); v >>= 8n; } while (v > 0n);
  if (bytes[0] & 0x80) bytes.unshift(0);
  return encode(TAG.INTEGER, Uint8Array.from(bytes));
}

export function decodeUnsigned(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/** UTCTime / GeneralizedTime → Date (UTC). */
export function decodeTime(tag: number, bytes: Uint8Array): Date {
  if (tag !== TAG.UTCTime && tag !== TAG.GeneralizedTime) throw new DerError(`a time has tag 0x${tag.toString(16)}, expected UTCTime or GeneralizedTime`);
  const s = new TextDecoder().decode(bytes);
  const m = tag === TAG.UTCTime
    ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
    : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z$/.exec(s);
  if (!m) throw new DerError(`bad time value '${s.replace(/[^\x20-\x7e]/g, "?")}'`);
  let year = Number(m[1]);
  if (tag === TAG.UTCTime) year += year < 50 ? 2000 : 1900;
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}
