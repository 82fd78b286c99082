import { sign, verify, type KeyObject } from "node:crypto";
import { RepositoryError } from "./errors";
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

/** MD5 of the empty root path; the client refuses any other R. */
export const ROOT_PATH_MD5 = "d41d8cd98f00b204e9800998ecf8427e";

/** The field lines in upstream's order (Manifest::ExportString). */
export function manifestLetter(m: Manifest): string {
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

export function parseManifest(bytes: Uint8Array, what = ".cvmfspublished"): { manifest: Manifest; signed: SignedText } {
  const signed = splitSigned(bytes, what);
  const fields = new Map<string, string>();
  for (const line of signed.lines) fields.set(line[0], line.slice(1)); // a later duplicate wins, as upstream's parser
  const hash = (key: string): ContentHash | undefined => {
    const v = fields.get(key);
    if (v === undefined) return undefined;
    try {
      return parseHex(v);
    } catch {
      throw new RepositoryError(`${what}: field ${key} '${v}' is not a content hash`);
    }
  };
  const uint = (key: string): number | undefined => {
    const v = fields.get(key);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new RepositoryError(`${what}: field ${key} '${v}' is not a whole number`);
    return Number(v);
  };
  for (const key of ["C", "R", "D", "S"]) if (!fields.has(key)) throw new RepositoryError(`${what}: required field ${key} is missing`);
  if (fields.get("R") !== ROOT_PATH_MD5) throw new RepositoryError(`${what}: field R '${fields.get("R")}' is not the MD5 of the root path (${ROOT_PATH_MD5})`);
  return {
    signed,
    manifest: {
      rootHash: hash("C")!, rootCatalogSize: uint("B"), ttl: uint("D")!, revision: uint("S")!,
      garbageCollectable: fields.get("G") === "yes", alternativePaths: fields.get("A") === "yes",
      fqrn: fields.get("N"), certificate: hash("X"), history: hash("H"), publishedAt: uint("T"),
      metainfo: hash("M"), reflog: hash("Y"), micro: hash("L"),
    },
  };
}

/** Letter + "--" + hash + RSA PKCS#1 v1.5 SHA-1 signature over the ASCII hex hash. */
export function signManifest(m: Manifest, repositoryKey: KeyObject): Uint8Array {
  const letter = manifestLetter(m);
  const hex = toHex(hashBytes(m.rootHash.algorithm, letter));
  return assembleSigned(letter, hex, sign("sha1", Buffer.from(hex), repositoryKey));
}

export function verifyManifest(signed: SignedText, certificateKey: KeyObject, what = ".cvmfspublished"): void {
  checkLetterHash(signed, what);
  let ok = false;
  try {
    ok = verify("sha1", Buffer.from(signed.hashHex), certificateKey, signed.signature);
  } catch { /* malformed signature: not ok */ }
  if (!ok) throw new RepositoryError(`${what}: bad signature (not made by the repository certificate's key)`);
}
