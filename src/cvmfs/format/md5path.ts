import { createHash } from "node:crypto";

/**
 * Catalog rows are keyed by the MD5 of the absolute path ("" for the root),
 * split into two little-endian signed 64-bit integers (spec §2.6).
 */
export function md5Pair(path: string): [bigint, bigint] {
  const d = createHash("md5").update(path, "utf8").digest();
  return [d.readBigInt64LE(0), d.readBigInt64LE(8)];
}

/** "/a/b" → "/a"; "/a" → "" (the root). */
export function parentPath(path: string): string {
  return path.slice(0, Math.max(0, path.lastIndexOf("/")));
}
