import { promisify } from "node:util";
import { deflateSync, inflate, inflateSync, type ZlibOptions } from "node:zlib";

const inflateAsync = promisify(inflate) as (data: Uint8Array, options: ZlibOptions) => Promise<Buffer>;
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

/** The stored bytes must hash to the name they were asked for. */
export function checkStored(bytes: Uint8Array, expected: ContentHash, what: string): void {
  const actual = hashBytes(expected.algorithm, bytes);
  if (!sameHash(actual, expected)) throw new CorruptObjectError(`${what}: content hash mismatch (expected ${toHex(expected)}, got ${toHex(actual)})`);
}

/** Up to this, the limit is taken as the size to expect (a data object's size from its catalog). */
const EXACT_OUTPUT_MAX = 64 << 20;

/**
 * The output in as few pieces as possible: zlib's default 16 KiB chunks cost
 * a callback, an allocation and a copy each (inflating 8 MiB took 5× longer
 * in 16 KiB chunks than in one). A data object's limit is its exact size;
 * larger limits (catalogs' generous cap) are no size hint, so 1 MiB then.
 */
function inflateOptions(maxInflated: number): ZlibOptions {
  const maxOutputLength = Math.max(1, maxInflated);
  return { maxOutputLength, chunkSize: Math.max(64, maxOutputLength <= EXACT_OUTPUT_MAX ? maxOutputLength : 1 << 20) };
}

/**
 * Inflates, stopping as soon as the output passes `maxInflated` (a signed
 * object can still be a bomb: the hash proves who wrote it, not that it is small).
 */
export function inflateObject(bytes: Uint8Array, what: string, maxInflated: number): Uint8Array {
  try {
    return inflateSync(bytes, inflateOptions(maxInflated));
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE")
      throw new CorruptObjectError(`${what}: inflates to more than the ${maxInflated} bytes expected`);
    throw new CorruptObjectError(`${what}: not a valid zlib stream (${(err as Error).message})`);
  }
}

/** As inflateObject, on the thread pool: inflating big objects then uses every core, and the main thread stays free. */
export async function inflateObjectAsync(bytes: Uint8Array, what: string, maxInflated: number): Promise<Uint8Array> {
  try {
    return await inflateAsync(bytes, inflateOptions(maxInflated));
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE")
      throw new CorruptObjectError(`${what}: inflates to more than the ${maxInflated} bytes expected`);
    throw new CorruptObjectError(`${what}: not a valid zlib stream (${(err as Error).message})`);
  }
}

/** Hash check, then inflate (when compressed) on the thread pool: nothing unverified is returned. */
export async function openObjectAsync(bytes: Uint8Array, expected: ContentHash, what: string, compressed: boolean, maxInflated: number): Promise<Uint8Array> {
  checkStored(bytes, expected, what);
  // Small objects inflate faster here than the round trip to a thread costs.
  if (!compressed) return bytes;
  return bytes.length < 64 * 1024 ? inflateObject(bytes, what, maxInflated) : inflateObjectAsync(bytes, what, maxInflated);
}

/** Hash check, then inflate (when compressed): nothing unverified is returned. */
export function openObject(bytes: Uint8Array, expected: ContentHash, what: string, compressed: boolean, maxInflated: number): Uint8Array {
  checkStored(bytes, expected, what);
  return compressed ? inflateObject(bytes, what, maxInflated) : bytes;
}
