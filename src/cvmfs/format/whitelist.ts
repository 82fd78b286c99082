import { constants, privateEncrypt, publicDecrypt, type KeyObject } from "node:crypto";
import { formatFingerprint } from "./certificate";
import { RepositoryError } from "../errors";
import { hashBytes, parseHex, sameHash, toHex, type ContentHash, type HashAlgorithm } from "./hash";
import { assembleSigned, checkLetterHash, splitSigned, type SignedText } from "./signed-text";

/** .cvmfswhitelist, decoded (spec §1.5). */
export interface Whitelist {
  created: string;           // line 1, YYYYMMDDHHMMSS UTC (informational; upstream ignores it)
  expires: Date;             // to the hour: valid while now's UTC hour is strictly before this one
  fqrn: string;
  fingerprints: ContentHash[];
  pkcs7: boolean;            // "Vpkcs7": upstream verifies .cvmfswhitelist.pkcs7 instead (not supported here)
  caChain: boolean;          // "Wcachain"
}

/** Longest whitelist lifetime a publisher may sign: ten years keeps the expiry a four-digit year every client parses. */
export const MAX_WHITELIST_DAYS = 3650;

/** YYYYMMDDHHMMSS in UTC. */
const stamp = (d: Date) => d.toISOString().replace(/[-:T]/g, "").slice(0, 14);

/** Creation line, expiry line, name, one fingerprint line per certificate (cvmfs_server_ssl.sh:create_whitelist). */
export function whitelistLetter(o: { fqrn: string; fingerprints: ContentHash[]; now: Date; validDays: number }): string {
  if (o.fqrn.includes("\n")) throw new RepositoryError(`whitelist: repository name ${JSON.stringify(o.fqrn)} contains a newline`);
  const expires = new Date(o.now.getTime() + o.validDays * 86400_000);
  const lines = [stamp(o.now), `E${stamp(expires)}`, `N${o.fqrn}`, ...o.fingerprints.map(formatFingerprint)];
  return lines.map((l) => l + "\n").join("");
}

/**
 * The whole .cvmfswhitelist: letter, "--", the letter's hash, and a raw
 * PKCS#1 v1.5 "private encrypt" of the ASCII hex hash with the master key
 * (no hashing, no DigestInfo: what RSA_private_encrypt / openssl pkeyutl -sign do).
 */
export function signWhitelist(letter: string, masterKey: KeyObject, algorithm: HashAlgorithm = "sha1"): Uint8Array {
  const hex = toHex(hashBytes(algorithm, letter));
  return assembleSigned(letter, hex, privateEncrypt({ key: masterKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(hex)));
}

/** As SignatureManager::MkFromFingerprint: up to a space, tab or '#', colons dropped, lowercased; unreadable lines are ignored. */
function parseFingerprint(line: string): ContentHash | undefined {
  const text = line.split(/[ \t#]/, 1)[0].replace(/:/g, "").toLowerCase();
  try {
    return parseHex(text);
  } catch {
    return undefined;
  }
}

/** Line 2, "EYYYYMMDDHHMMSS": only year, month, day and hour count. */
function parseExpiry(line: string, what: string): Date {
  const e = /^E(\d{4})(\d{2})(\d{2})(\d{2})\d{4}$/.exec(line);
  const [year, month, day, hour] = e ? e.slice(1, 5).map(Number) : [];
  if (!e || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23)
    throw new RepositoryError(`${what}: malformed line 2 '${line.slice(0, 40)}': expected the expiry time EYYYYMMDDHHMMSS (UTC)`);
  return new Date(Date.UTC(year, month - 1, day, hour));
}

/** The fields, without checking expiry, name or signature. */
export function parseWhitelist(bytes: Uint8Array, what = ".cvmfswhitelist"): { whitelist: Whitelist; signed: SignedText } {
  const signed = splitSigned(bytes, what);
  return { signed, whitelist: readLetter(signed, what) };
}

function readLetter(signed: SignedText, what: string): Whitelist {
  // Upstream reads the first three lines at fixed offsets, so they must be present and exact.
  const [created = "", expiry = "", name = "", ...rest] = Buffer.from(signed.letter).toString("utf8").split("\n");
  if (created.length !== 14) throw new RepositoryError(`${what}: malformed line 1 '${created.slice(0, 40)}': expected the creation time YYYYMMDDHHMMSS (14 characters)`);
  const expires = parseExpiry(expiry, what);
  if (!name.startsWith("N") || name.length < 2) throw new RepositoryError(`${what}: malformed line 3 '${name.slice(0, 60)}': expected the repository name N<fqrn>`);
  const options = rest.filter((l) => l.length > 0);
  return {
    created,
    expires,
    fqrn: name.slice(1),
    fingerprints: options.map(parseFingerprint).filter((f): f is ContentHash => f !== undefined),
    pkcs7: options.includes("Vpkcs7"),
    caChain: options.includes("Wcachain"),
  };
}

/** Expired from the top of the hour written in E: minutes and seconds of both times do not count (whitelist.cc:IsBefore). */
export function isExpired(w: Whitelist, now: Date): boolean {
  const nowHour = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), now.getUTCHours());
  return nowHour >= w.expires.getTime();
}

/** Days (fractional) until the whitelist expires; negative once it has. */
export function daysLeft(w: Whitelist, now: Date): number {
  return (w.expires.getTime() - now.getTime()) / 86400_000;
}

export function isListed(w: Whitelist, fingerprint: ContentHash): boolean {
  return w.fingerprints.some((f) => sameHash(f, fingerprint));
}

/** True if the master key's raw RSA public decrypt of the signature gives exactly `expected`. */
function opensTo(key: KeyObject, signature: Uint8Array, expected: Buffer): boolean {
  try {
    return publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature).equals(expected);
  } catch {
    return false; // wrong key size, bad padding: this key did not sign it
  }
}

/**
 * The letter hash and a signature that any one of the trusted master keys
 * opens to the hex hash come first, so nothing unsigned is ever parsed line
 * by line; then format, expiry and name (upstream checks those first, but
 * only the order of the messages differs).
 */
export function verifyWhitelist(bytes: Uint8Array, o: { fqrn: string; masterKeys: KeyObject[]; now: Date }, what = ".cvmfswhitelist"): Whitelist {
  const signed = splitSigned(bytes, what);
  checkLetterHash(signed, what);
  const expected = Buffer.from(signed.hashHex);
  if (!o.masterKeys.some((key) => opensTo(key, signed.signature, expected)))
    throw new RepositoryError(`${what}: bad signature: none of the ${o.masterKeys.length} trusted master keys verifies it (add the repository's .pub with --keys or CVMFS_KEYS_DIR)`);
  const whitelist = readLetter(signed, what);
  if (isExpired(whitelist, o.now))
    throw new RepositoryError(`${what}: expired at ${whitelist.expires.toISOString()} (now ${o.now.toISOString()}); the publisher must re-sign it (cvm publish resign, or cvmfs_server resign)`);
  if (whitelist.fqrn !== o.fqrn) throw new RepositoryError(`${what}: is for repository '${whitelist.fqrn}', expected '${o.fqrn}'`);
  return whitelist;
}
