/**
 * The catalog's xattr BLOB: version 1, entry count, then per entry one byte of
 * key length, one byte of value length, key, value; sorted by key (spec §2.6).
 */
export function serializeXattrs(x: Map<string, Uint8Array>): Uint8Array {
  const entries = [...x].map(([k, v]) => [Buffer.from(k, "utf8"), Buffer.from(v)] as const).sort(([a], [b]) => Buffer.compare(a, b));
  if (entries.length > 255) throw new Error(`too many extended attributes (${entries.length}; at most 255)`);
  const parts: Buffer[] = [Buffer.from([1, entries.length])];
  for (const [k, v] of entries) {
    if (k.length === 0 || k.length > 255 || k.includes(0)) throw new Error(`extended attribute name '${k.toString()}' must be 1–255 bytes without NUL`);
    if (v.length > 255) throw new Error(`extended attribute '${k.toString()}' has a ${v.length}-byte value; at most 255`);
    parts.push(Buffer.from([k.length, v.length]), k, v);
  }
  return Buffer.concat(parts);
}

export function parseXattrs(blob: Uint8Array): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  if (blob.length < 2 || blob[0] !== 1) throw new Error("xattr blob: unknown version");
  let pos = 2;
  for (let i = 0; i < blob[1]; i++) {
    if (pos + 2 > blob.length) throw new Error("xattr blob: truncated");
    const kl = blob[pos], vl = blob[pos + 1];
    pos += 2;
    if (pos + kl + vl > blob.length) throw new Error("xattr blob: truncated");
    out.set(new TextDecoder().decode(blob.subarray(pos, pos + kl)), blob.slice(pos + kl, pos + kl + vl));
    pos += kl + vl;
  }
  return out;
}
