import { deflateSync, inflateSync } from "node:zlib";
import { hashBytes, sameHash, toHex, type ContentHash, type HashAlgorithm } from "./hash";

/**
 * Repository objects are zlib streams (RFC 1950, level 6 as upstream's
 * Z_DEFAULT_COMPRESSION) named by the hash of the stored, compressed bytes.
 */
export interface StoredObject { bytes: Uint8Array; hash: ContentHash; }

export function compress(data: Uint8Array): Uint8Array {
  return deflateSync(data, { level: 6 });
}

export function makeObject(data: Uint8Array, algorithm: HashAlgorithm, compressed = true): StoredObject {
  const bytes = compressed ? compress(data) : data;
  return { bytes, hash: hashBytes(algorithm, bytes) };
}

export class CorruptObjectError extends Error {}

/**
 * Checks the stored bytes against the hash that names them, then inflates,
 * stopping as soon as the output passes `maxInflated` (a signed object can
 * still be a bomb: the hash proves who wrote it, not that it is small).
 * Nothing unverified is returned.
 */
export function openObject(bytes: Uint8Array, expected: ContentHash, what: string, compressed: boolean, maxInflated: number): Uint8Array {
  const actual = hashBytes(expected.algorithm, bytes);
  if (!sameHash(actual, expected)) throw new CorruptObjectError(`${what}: content hash mismatch (expected ${toHex(expected)}, got ${toHex(actual)})`);
  if (!compressed) return bytes;
  try {
    return inflateSync(bytes, { maxOutputLength: Math.max(1, maxInflated) });
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE")
      throw new CorruptObjectError(`${what}: inflates to more than the ${maxInflated} bytes expected`);
    throw new CorruptObjectError(`${what}: not a valid zlib stream (${(err as Error).message})`);
  }
}
