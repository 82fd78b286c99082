import { sign, verify, type KeyObject } from "node:crypto";
import { RepositoryError } from "../errors";
import { hashBytes, parseHex, toHex, type ContentHash } from "./hash";
import { assembleSigned, checkLetterHash, splitSigned, type SignedText } from "./signed-text";

/** .cvmfspublished, decoded (spec §1.4). */
export interface Manifest {
  rootHash: ContentHash;       // C
  rootCatalogSize?: number;    // B: uncompressed bytes
  ttl: number;                 // D
  revision: number;            // S
  garbageCollectable: boolean; // G
  alternativePaths: boolean;   // A
  fqrn?: string;               // N
  certificate?: ContentHash;   // X
  history?: ContentHash;       // H
  publishedAt?: number;        // T: unix seconds
  metainfo?: ContentHash;      // M
  reflog?: ContentHash;        // Y
  micro?: ContentHash;         // L
}

/** Publication times beyond 9999-12-31 are not dates any client can show or compare sanely. */
export const MAX_TIMESTAMP = 253402300799;

/** MD5 of the empty root path; the client refuses any other R. */
export const ROOT_PATH_MD5 = "d41d8cd98f00b204e9800998ecf8427e";

const REQUIRED = ["C", "R", "D", "S"] as const;

/** The field lines in upstream's order (Manifest::ExportString), each ending in "\n". */
export function manifestLetter(m: Manifest): string {
  // A newline inside a value would forge a field of its own.
  if (m.fqrn?.includes("\n")) throw new RepositoryError(`manifest: field N ${JSON.stringify(m.fqrn)} contains a newline`);
  const lines = [
    `C${toHex(m.rootHash)}`, `B${m.rootCatalogSize ?? 0}`, `R${ROOT_PATH_MD5}`, `D${m.ttl}`, `S${m.revision}`,
    `G${m.garbageCollectable ? "yes" : "no"}`, `A${m.alternativePaths ? "yes" : "no"}`,
  ];
  if (m.micro) lines.push(`L${toHex(m.micro)}`);
  if (m.fqrn) lines.push(`N${m.fqrn}`);
  if (m.certificate) lines.push(`X${toHex(m.certificate)}`);
  if (m.history) lines.push(`H${toHex(m.history)}`);
  if (m.publishedAt && m.publishedAt > 0) lines.push(`T${m.publishedAt}`);
  if (m.metainfo) lines.push(`M${toHex(m.metainfo)}`);
  if (m.reflog) lines.push(`Y${toHex(m.reflog)}`);
  return lines.map((l) => l + "\n").join("");
}

/** Parses the fields as upstream's ParseKeyvalMem does: key = first byte, a later duplicate wins, empty lines skipped. */
export function parseManifest(bytes: Uint8Array, what = ".cvmfspublished"): { manifest: Manifest; signed: SignedText } {
  const signed = splitSigned(bytes, what);
  const fields = new Map<string, string>();
  for (const line of signed.lines) fields.set(line[0], line.slice(1));
  for (const key of REQUIRED) if (!fields.has(key)) throw new RepositoryError(`${what}: required field ${key} is missing`);
  const r = fields.get("R");
  if (r !== ROOT_PATH_MD5) throw new RepositoryError(`${what}: field R '${r}' is not the MD5 of the root path (${ROOT_PATH_MD5})`);

  const hash = (key: string): ContentHash | undefined => {
    const v = fields.get(key);
    if (v === undefined) return undefined;
    try {
      return parseHex(v);
    } catch {
      throw new RepositoryError(`${what}: field ${key} '${v.slice(0, 60)}' is not a content hash (40 lowercase hex digits, optionally -rmd160 or -shake128)`);
    }
  };
  const uint = (key: string): number | undefined => {
    const v = fields.get(key);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new RepositoryError(`${what}: field ${key} '${v.slice(0, 60)}' is not a whole number`);
    return n;
  };
  const publishedAt = uint("T");
  if (publishedAt !== undefined && publishedAt > MAX_TIMESTAMP)
    throw new RepositoryError(`${what}: field T '${publishedAt}' is not a publication time (after the year 9999)`);
  return {
    signed,
    manifest: {
      rootHash: hash("C")!, rootCatalogSize: uint("B"), ttl: uint("D")!, revision: uint("S")!,
      garbageCollectable: fields.get("G") === "yes", alternativePaths: fields.get("A") === "yes",
      fqrn: fields.get("N"), certificate: hash("X"), history: hash("H"), publishedAt,
      metainfo: hash("M"), reflog: hash("Y"), micro: hash("L"),
    },
  };
}

/**
 * The whole .cvmfspublished: letter, "--", the letter's hash (the root
 * catalog's algorithm), and an RSASSA-PKCS1-v1_5 SHA-1 signature over the
 * ASCII hex of that hash, whatever the repository's hash algorithm.
 */
export function signManifest(m: Manifest, repositoryKey: KeyObject): Uint8Array {
  const letter = manifestLetter(m);
  const hex = toHex(hashBytes(m.rootHash.algorithm, letter));
  return assembleSigned(letter, hex, sign("sha1", Buffer.from(hex), repositoryKey));
}

/** Letter hash first, then the signature with the key of the certificate the manifest names. */
export function verifyManifest(signed: SignedText, certificateKey: KeyObject, what = ".cvmfspublished"): void {
  checkLetterHash(signed, what);
  let ok = false;
  try {
    ok = verify("sha1", Buffer.from(signed.hashHex), certificateKey, signed.signature);
  } catch { /* a signature of the wrong length or a key of the wrong kind: not ok */ }
  if (!ok) throw new RepositoryError(`${what}: bad signature (not made by the key of the repository certificate)`);
}
