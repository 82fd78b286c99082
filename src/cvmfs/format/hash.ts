import { createHash } from "node:crypto";

/**
 * CernVM-FS content hashes: SHA-1 (default), RIPEMD-160 and SHAKE-128 (160-bit
 * output). Hex is lowercase, followed by the algorithm tag ("", "-rmd160",
 * "-shake128"); object names add a one-letter type suffix.
 */
export type HashAlgorithm = "sha1" | "rmd160" | "shake128";

export const ALGORITHMS: readonly HashAlgorithm[] = ["sha1", "rmd160", "shake128"];
export const ALGORITHM_TAG: Record<HashAlgorithm, string> = { sha1: "", rmd160: "-rmd160", shake128: "-shake128" };
/** The value stored in catalog flag bits 8–10 is (upstream enum − 1). */
export const ALGORITHM_FLAG_VALUE: Record<HashAlgorithm, number> = { sha1: 0, rmd160: 1, shake128: 2 };

/** Object type suffixes: "" file content, C catalog, P chunk, X certificate, H history, M meta-info. */
export type ObjectSuffix = "" | "C" | "P" | "X" | "H" | "M";

export interface ContentHash {
  algorithm: HashAlgorithm;
  digest: Uint8Array; // 20 bytes for every content algorithm
}

export class HashFormatError extends Error {}

export function hasher(algorithm: HashAlgorithm) {
  return algorithm === "shake128" ? createHash("shake128", { outputLength: 20 }) : createHash(algorithm === "rmd160" ? "ripemd160" : "sha1");
}

export function hashBytes(algorithm: HashAlgorithm, data: Uint8Array | string): ContentHash {
  return { algorithm, digest: new Uint8Array(hasher(algorithm).update(data).digest()) };
}

/** Lowercase hex plus the algorithm tag, as manifests and catalogs write hashes. */
export function toHex(h: ContentHash): string {
  return Buffer.from(h.digest).toString("hex") + ALGORITHM_TAG[h.algorithm];
}

/** Parses `hex[-tag]`; the algorithm comes from the length/tag, as upstream infers it. */
export function parseHex(text: string): ContentHash {
  const m = /^([0-9a-f]{40})(-rmd160|-shake128)?$/.exec(text);
  if (!m) throw new HashFormatError(`'${text}' is not a content hash (40 lowercase hex digits, optionally -rmd160 or -shake128)`);
  const algorithm: HashAlgorithm = m[2] === "-rmd160" ? "rmd160" : m[2] === "-shake128" ? "shake128" : "sha1";
  return { algorithm, digest: new Uint8Array(Buffer.from(m[1], "hex")) };
}

export function fromDigest(algorithm: HashAlgorithm, digest: Uint8Array): ContentHash {
  if (digest.length !== 20) throw new HashFormatError(`a ${algorithm} digest has 20 bytes, not ${digest.length}`);
  return { algorithm, digest };
}

export const sameHash = (a: ContentHash, b: ContentHash) =>
  a.algorithm === b.algorithm && Buffer.from(a.digest).equals(Buffer.from(b.digest));

/** `data/XX/rest<suffix>`: where an object lives below the repository root. */
export function objectPath(h: ContentHash, suffix: ObjectSuffix): string {
  const hex = toHex(h);
  return `data/${hex.slice(0, 2)}/${hex.slice(2)}${suffix}`;
}

export function parseAlgorithmName(name: string): HashAlgorithm {
  if ((ALGORITHMS as readonly string[]).includes(name)) return name as HashAlgorithm;
  throw new HashFormatError(`unknown hash algorithm '${name}': expected sha1, rmd160 or shake128`);
}
