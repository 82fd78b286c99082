import { constants, privateEncrypt, publicDecrypt, type KeyObject } from "node:crypto";
import { RepositoryError } from "./errors";
import { ALGORITHM_TAG, hashBytes, parseHex, sameHash, toHex, type ContentHash, type HashAlgorithm } from "./hash";
import { assembleSigned, checkLetterHash, splitSigned, type SignedText } from "./signed-text";

/** .cvmfswhitelist, decoded (spec §1.5). */
export interface Whitelist {
  created: string;           // YYYYMMDDHHMMSS, UTC (informational)
  expires: Date;             // to the hour: valid while now is strictly before this hour
  fqrn: string;
  fingerprints: ContentHash[];
  pkcs7: boolean;
  caChain: boolean;
}

const stamp = (d: Date) => d.toISOString().replace(/[-:T]/g, "").slice(0, 14);

/** "AB:CD:…:EF" for SHA-1; other algorithms append their tag in capitals ("…:EF-RMD160"). */
export function formatFingerprintLine(h: ContentHash): string {
  return Buffer.from(h.digest).toString("hex").toUpperCase().match(/../g)!.join(":") + ALGORITHM_TAG[h.algorithm].toUpperCase();
}

export function whitelistLetter(o: { fqrn: string; fingerprints: ContentHash[]; now: Date; validDays: number }): string {
  const expires = new Date(o.now.getTime() + o.validDays * 86400_000);
  return [stamp(o.now), `E${stamp(expires)}`, `N${o.fqrn}`, ...o.fingerprints.map(formatFingerprintLine)].map((l) => l + "\n").join("");
}

/** Raw PKCS#1 v1.5 "private encrypt" of the ASCII hex hash with the master key (no DigestInfo). */
export function signWhitelist(letter: string, masterKey: KeyObject, algorithm: HashAlgorithm = "sha1"): Uint8Array {
  const hex = toHex(hashBytes(algorithm, letter));
  return assembleSigned(letter, hex, privateEncrypt({ key: masterKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(hex)));
}

function parseFingerprint(line: string): ContentHash | undefined {
  const text = line.split(/[ \t#]/, 1)[0].replace(/:/g, "").toLowerCase();
  try {
    return parseHex(text);
  } catch {
    return undefined; // upstream ignores lines it cannot read
  }
}

export function parseWhitelist(bytes: Uint8Array, what = ".cvmfswhitelist"): { whitelist: Whitelist; signed: SignedText } {
  const signed = splitSigned(bytes, what);
  const [created, expiry, name, ...rest] = new TextDecoder().decode(signed.letter).split("\n");
  if (!/^\d{14}$/.test(created ?? "")) throw new RepositoryError(`${what}: line 1 '${created}' is not a creation time YYYYMMDDHHMMSS`);
  const e = /^E(\d{4})(\d{2})(\d{2})(\d{2})\d{4}$/.exec(expiry ?? "");
  if (!e) throw new RepositoryError(`${what}: line 2 '${expiry}' is not an expiry time EYYYYMMDDHHMMSS`);
  if (!name?.startsWith("N")) throw new RepositoryError(`${what}: line 3 '${name}' is not the repository name (N…)`);
  const options = rest.filter((l) => l.length);
  return {
    signed,
    whitelist: {
      created: created,
      expires: new Date(Date.UTC(Number(e[1]), Number(e[2]) - 1, Number(e[3]), Number(e[4]))),
      fqrn: name.slice(1),
      fingerprints: options.map(parseFingerprint).filter((f): f is ContentHash => !!f),
      pkcs7: options.includes("Vpkcs7"),
      caChain: options.includes("Wcachain"),
    },
  };
}

/** Valid while the current UTC hour is strictly before the expiry hour (minutes and seconds do not count). */
export function isExpired(w: Whitelist, now: Date): boolean {
  const hour = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), now.getUTCHours());
  return hour >= w.expires.getTime();
}

export const daysLeft = (w: Whitelist, now: Date) => (w.expires.getTime() - now.getTime()) / 86400_000;

export const isListed = (w: Whitelist, fingerprint: ContentHash) => w.fingerprints.some((f) => sameHash(f, fingerprint));

/** Format, expiry, name, letter hash, then a signature that any trusted master key opens to the hex hash. */
export function verifyWhitelist(bytes: Uint8Array, o: { fqrn: string; masterKeys: KeyObject[]; now: Date }, what = ".cvmfswhitelist"): Whitelist {
  const { whitelist, signed } = parseWhitelist(bytes, what);
  if (isExpired(whitelist, o.now)) throw new RepositoryError(`${what}: expired on ${whitelist.expires.toISOString()}; the publisher must run 'cvm publish resign' (or cvmfs_server resign)`);
  if (whitelist.fqrn !== o.fqrn) throw new RepositoryError(`${what}: is for repository '${whitelist.fqrn}', expected '${o.fqrn}'`);
  checkLetterHash(signed, what);
  const expected = Buffer.from(signed.hashHex);
  const opened = o.masterKeys.some((key) => {
    try {
      return publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signed.signature).equals(expected);
    } catch {
      return false;
    }
  });
  if (!opened) throw new RepositoryError(`${what}: bad signature: none of the ${o.masterKeys.length} trusted master keys verifies it (add the repository's .pub with --keys or CVMFS_KEYS_DIR)`);
  return whitelist;
}
