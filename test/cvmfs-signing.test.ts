import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPublicKey, generateKeyPair, type KeyObject } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { run } from "./helpers/run";
import { testWith } from "./helpers/tools";
import { RepositoryError } from "../src/cvmfs/errors";
import { hashBytes, toHex, type ContentHash, type HashAlgorithm } from "../src/cvmfs/format/hash";
import { assembleSigned, checkLetterHash, splitSigned } from "../src/cvmfs/format/signed-text";
import { manifestLetter, parseManifest, signManifest, verifyManifest, type Manifest } from "../src/cvmfs/format/manifest";
import { daysLeft, isExpired, isListed, parseWhitelist, signWhitelist, verifyWhitelist, whitelistLetter } from "../src/cvmfs/format/whitelist";
import { certificateFingerprint, certificatePublicKey, formatFingerprint, generateRepositoryCertificate, repositoryCertificateCommonName } from "../src/cvmfs/format/certificate";
import { builtInMasterKeys, loadMasterKeys } from "../src/cvmfs/format/keys";

const FQRN = "signing.example.org";
const sslTest = testWith("openssl");
const enc = (s: string) => new TextEncoder().encode(s);
const pem = (k: KeyObject) => k.export({ format: "pem", type: k.type === "private" ? "pkcs8" : "spki" }).toString();

let work: string;
let master: KeyObject, otherMaster: KeyObject, repoKey: KeyObject, certPem: string;

async function rsaKey(): Promise<KeyObject> {
  const { privateKey } = await promisify(generateKeyPair)("rsa", { modulusLength: 2048 });
  return privateKey;
}

async function openssl(...args: string[]) {
  const r = await run(["openssl", ...args], { cwd: work });
  if (r.code !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
  return r;
}

function flip(bytes: Uint8Array, at: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[at] ^= 0x01;
  return copy;
}

/** Where the hash line and the signature of a signed file start. */
function layout(bytes: Uint8Array) {
  const b = Buffer.from(bytes);
  const hashAt = b.indexOf("\n--\n") + 4;
  const sigAt = b.indexOf(0x0a, hashAt) + 1;
  return { hashAt, sigAt, hashLine: b.subarray(hashAt, sigAt - 1), signature: b.subarray(sigAt) };
}

function expectRepositoryError(f: () => unknown, message: RegExp | string) {
  let thrown: unknown;
  try {
    f();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(RepositoryError);
  const text = (thrown as Error).message;
  expect(text).not.toContain("\n");
  if (typeof message === "string") expect(text).toBe(message);
  else expect(text).toMatch(message);
}

function sampleManifest(algorithm: HashAlgorithm = "sha1"): Manifest {
  return {
    rootHash: hashBytes(algorithm, "root catalog"), rootCatalogSize: 14336, ttl: 240, revision: 7,
    garbageCollectable: false, alternativePaths: false, fqrn: FQRN,
    certificate: hashBytes(algorithm, certPem), history: hashBytes(algorithm, "history"),
    publishedAt: 1_700_000_000, reflog: hashBytes(algorithm, "reflog"),
  };
}

const NOW = new Date("2026-03-10T12:34:56Z");
const signedWhitelist = (o: { fqrn?: string; key?: KeyObject; fingerprints?: ContentHash[]; days?: number; algorithm?: HashAlgorithm } = {}) =>
  signWhitelist(
    whitelistLetter({ fqrn: o.fqrn ?? FQRN, fingerprints: o.fingerprints ?? [certificateFingerprint(certPem)], now: NOW, validDays: o.days ?? 30 }),
    o.key ?? master, o.algorithm);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cvm-signing-"));
  [master, otherMaster, repoKey] = await Promise.all([rsaKey(), rsaKey(), rsaKey()]);
  certPem = await generateRepositoryCertificate(FQRN, repoKey);
  writeFileSync(join(work, "master.pub"), pem(createPublicKey(master)));
  writeFileSync(join(work, "master.key"), pem(master));
  writeFileSync(join(work, "repo.key"), pem(repoKey));
  writeFileSync(join(work, "repo.crt"), certPem);
}, 60_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("signed text layout (letter, --, hash line, signature)", () => {
  test("split: letter up to and including the newline before '--', lines kept byte for byte", () => {
    const sig = new Uint8Array([0x0a, 0x2d, 0x2d, 0x0a, 0xff, 0x00]); // newlines and "--" inside the signature do not matter
    const bytes = assembleSigned("A1\r\n\nB2\n", "h", sig);
    const s = splitSigned(bytes, "f");
    expect(Buffer.from(s.letter).toString()).toBe("A1\r\n\nB2\n");
    expect(s.lines).toEqual(["A1\r", "B2"]); // no "\r" stripping, empty lines skipped
    expect(s.hashHex).toBe("h");
    expect([...s.signature]).toEqual([...sig]);
  });

  test("no '--' line, or no hash line, is a RepositoryError naming the file", () => {
    expectRepositoryError(() => splitSigned(enc("C00\nD1\n"), "x/.cvmfspublished"), /^x\/\.cvmfspublished: no '--' line/);
    expectRepositoryError(() => splitSigned(enc("C00\n--\nabc"), "x/.cvmfspublished"), /^x\/\.cvmfspublished: no hash line after '--'/);
  });

  test("the letter hash is recomputed with the algorithm the hash line implies", () => {
    for (const alg of ["sha1", "rmd160", "shake128"] as const) {
      const hex = toHex(hashBytes(alg, "L1\n"));
      expect(checkLetterHash(splitSigned(assembleSigned("L1\n", hex, new Uint8Array()), "f"), "f").algorithm).toBe(alg);
    }
    expectRepositoryError(() => checkLetterHash(splitSigned(assembleSigned("L1\n", "0".repeat(40), new Uint8Array()), "f"), "f"),
      /^f: the content does not match its hash line \(expected 0{40}, got [0-9a-f]{40}\)$/);
    expectRepositoryError(() => checkLetterHash(splitSigned(assembleSigned("L1\n", "XYZ", new Uint8Array()), "f"), "f"), /^f: the hash line 'XYZ' is not a content hash/);
  });
});

describe(".cvmfspublished", () => {
  test("letter: fields in upstream's order, optional ones only when set", () => {
    const full: Manifest = { ...sampleManifest(), micro: hashBytes("sha1", "micro"), metainfo: hashBytes("sha1", "meta"), garbageCollectable: true, alternativePaths: true };
    const lines = manifestLetter(full).split("\n");
    expect(lines.at(-1)).toBe(""); // every line ends with "\n"
    expect(lines.slice(0, -1).map((l) => l[0]).join("")).toBe("CBRDSGALNXHTMY");
    expect(lines).toContain("Rd41d8cd98f00b204e9800998ecf8427e");
    expect(lines).toContain("Gyes");
    expect(lines).toContain("Ayes");
    const minimal = manifestLetter({ rootHash: hashBytes("sha1", "r"), ttl: 240, revision: 0, garbageCollectable: false, alternativePaths: false });
    expect(minimal).toBe(`C${toHex(hashBytes("sha1", "r"))}\nB0\nRd41d8cd98f00b204e9800998ecf8427e\nD240\nS0\nGno\nAno\n`);
  });

  test("the real 2.1-era example from the spec parses (signature not checked)", () => {
    const text = "C6ed3d49a5c64f21f36936ab350d49aaf57585b9a\nB14336\nRd41d8cd98f00b204e9800998ecf8427e\nD900\nS2\nGno\nNlegacy_aufs.cern.ch\n" +
      "X65133968f581abad1e75489c92a634e44929cbd7\nH365d5083b27d67e2caeff6d66e5fe3f2d104a6bd\nT1445428515\n--\na7c0345bd49103a80f2341c0319e020d1acf454b\n";
    const bytes = new Uint8Array([...enc(text), ...new Uint8Array(256).fill(0xa5)]);
    const { manifest, signed } = parseManifest(bytes);
    expect(toHex(manifest.rootHash)).toBe("6ed3d49a5c64f21f36936ab350d49aaf57585b9a");
    expect(manifest).toMatchObject({ rootCatalogSize: 14336, ttl: 900, revision: 2, garbageCollectable: false, alternativePaths: false, fqrn: "legacy_aufs.cern.ch", publishedAt: 1445428515 });
    expect(toHex(manifest.certificate!)).toBe("65133968f581abad1e75489c92a634e44929cbd7");
    expect(toHex(manifest.history!)).toBe("365d5083b27d67e2caeff6d66e5fe3f2d104a6bd");
    expect(manifest.metainfo).toBeUndefined();
    expect(signed.hashHex).toBe("a7c0345bd49103a80f2341c0319e020d1acf454b");
    expect(signed.signature.length).toBe(256);
    expect(Buffer.from(signed.letter).toString()).toBe(text.slice(0, text.indexOf("--\n")));
  });

  test("missing or bad fields are named", () => {
    const base = manifestLetter(sampleManifest());
    const without = (key: string) => enc(base.split("\n").filter((l) => l[0] !== key).join("\n") + "--\n" + "0".repeat(40) + "\n");
    for (const key of ["C", "R", "D", "S"]) expectRepositoryError(() => parseManifest(without(key), "m"), `m: required field ${key} is missing`);
    const swap = (from: string, to: string) => enc(base.replace(from, to) + "--\n" + "0".repeat(40) + "\n");
    expectRepositoryError(() => parseManifest(swap("Rd41d8cd98f00b204e9800998ecf8427e", "R00000000000000000000000000000000"), "m"),
      "m: field R '00000000000000000000000000000000' is not the MD5 of the root path (d41d8cd98f00b204e9800998ecf8427e)");
    expectRepositoryError(() => parseManifest(swap("D240", "Dsoon"), "m"), "m: field D 'soon' is not a whole number");
    expectRepositoryError(() => parseManifest(swap(`C${toHex(sampleManifest().rootHash)}`, "Cnothex"), "m"), /^m: field C 'nothex' is not a content hash/);
    // upstream keeps "\r": "Gyes\r" is not "yes"
    expect(parseManifest(swap("Gno", "Gyes\r")).manifest.garbageCollectable).toBe(false);
  });

  test("round trip: sign with the repository key, parse, verify with the certificate's key", () => {
    const bytes = signManifest(sampleManifest(), repoKey);
    const { manifest, signed } = parseManifest(bytes);
    expect(manifest).toEqual(sampleManifest());
    expect(signed.hashHex).toBe(toHex(hashBytes("sha1", manifestLetter(sampleManifest()))));
    expect(signed.signature.length).toBe(256);
    expect(() => verifyManifest(signed, certificatePublicKey(certPem))).not.toThrow();
  });

  test("tampering: a letter byte breaks the hash, a signature byte or another key breaks the signature", () => {
    const bytes = signManifest(sampleManifest(), repoKey);
    const key = certificatePublicKey(certPem);
    const { sigAt } = layout(bytes);
    const letterFlipped = flip(bytes, 5);
    expectRepositoryError(() => verifyManifest(parseManifest(letterFlipped).signed, key), /^\.cvmfspublished: the content does not match its hash line/);
    expectRepositoryError(() => verifyManifest(parseManifest(flip(bytes, sigAt + 100)).signed, key), /^\.cvmfspublished: bad signature/);
    expectRepositoryError(() => verifyManifest(parseManifest(bytes.subarray(0, bytes.length - 1)).signed, key), /^\.cvmfspublished: bad signature/);
    expectRepositoryError(() => verifyManifest(parseManifest(bytes, "r/.cvmfspublished").signed, createPublicKey(master), "r/.cvmfspublished"), /^r\/\.cvmfspublished: bad signature/);
  });

  for (const alg of ["rmd160", "shake128"] as const) {
    test(`a ${alg} repository: the hash line carries -${alg}; the signature is still SHA-1 over its ASCII`, () => {
      const bytes = signManifest(sampleManifest(alg), repoKey);
      const { hashLine } = layout(bytes);
      expect(hashLine.toString()).toMatch(new RegExp(`^[0-9a-f]{40}-${alg}$`));
      const { manifest, signed } = parseManifest(bytes);
      expect(manifest.rootHash.algorithm).toBe(alg);
      expect(manifest.reflog!.algorithm).toBe(alg);
      expect(checkLetterHash(signed, "m").algorithm).toBe(alg);
      verifyManifest(signed, certificatePublicKey(certPem));
    });
  }

  sslTest("openssl dgst -sha1 -verify accepts the signature over the hash line (both algorithms)", async () => {
    writeFileSync(join(work, "cert-pubkey.pem"), (await openssl("x509", "-in", "repo.crt", "-pubkey", "-noout")).stdout);
    for (const alg of ["sha1", "rmd160"] as const) {
      const { hashLine, signature } = layout(signManifest(sampleManifest(alg), repoKey));
      writeFileSync(join(work, "hashline"), hashLine);
      writeFileSync(join(work, "sig"), signature);
      const v = await openssl("dgst", "-sha1", "-verify", "cert-pubkey.pem", "-signature", "sig", "hashline");
      expect(v.stdout.trim()).toBe("Verified OK");
    }
  });

  sslTest("a manifest signed by openssl (as cvmfs_server does) verifies here", async () => {
    const letter = manifestLetter(sampleManifest());
    const hex = toHex(hashBytes("sha1", letter));
    writeFileSync(join(work, "mhash"), hex);
    await openssl("dgst", "-sha1", "-sign", "repo.key", "-out", "msig", "mhash");
    const bytes = assembleSigned(letter, hex, new Uint8Array(await Bun.file(join(work, "msig")).arrayBuffer()));
    expect(Buffer.from(bytes).equals(Buffer.from(signManifest(sampleManifest(), repoKey)))).toBe(true); // PKCS#1 v1.5 is deterministic
    verifyManifest(parseManifest(bytes).signed, certificatePublicKey(certPem));
  });
});

describe(".cvmfswhitelist", () => {
  test("letter: creation, E expiry, N name, one uppercase colon fingerprint per certificate", () => {
    const sha = certificateFingerprint(certPem), rmd = certificateFingerprint(certPem, "rmd160"), shake = certificateFingerprint(certPem, "shake128");
    const letter = whitelistLetter({ fqrn: FQRN, fingerprints: [sha, rmd, shake], now: new Date("2026-01-31T23:20:30Z"), validDays: 30 });
    const lines = letter.split("\n");
    expect(lines.slice(0, 3)).toEqual(["20260131232030", "E20260302232030", `N${FQRN}`]);
    expect(lines[3]).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
    expect(lines[4]).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}-RMD160$/);
    expect(lines[5]).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}-SHAKE128$/);
    expect(lines.slice(6)).toEqual([""]);
  });

  test("round trip: sign with the master key, verify, the certificate is listed", () => {
    const w = verifyWhitelist(signedWhitelist(), { fqrn: FQRN, masterKeys: [createPublicKey(master)], now: NOW });
    expect(w).toMatchObject({ created: "20260310123456", fqrn: FQRN, pkcs7: false, caChain: false });
    expect(w.expires.toISOString()).toBe("2026-04-09T12:00:00.000Z"); // to the hour
    expect(isListed(w, certificateFingerprint(certPem))).toBe(true);
    expect(isListed(w, hashBytes("sha1", "another certificate"))).toBe(false);
    expect(isListed(w, certificateFingerprint(certPem, "rmd160"))).toBe(false); // the algorithm is part of the identity
    expect(daysLeft(w, NOW)).toBeCloseTo(29.98, 1);
    expect(daysLeft(w, new Date("2026-05-01T00:00:00Z"))).toBeLessThan(0);
  });

  test("expiry is to the hour: valid at hh:59:59 of the hour before, expired at the hour written", () => {
    const bytes = signedWhitelist({ days: 1 }); // E20260311123456
    const opts = (now: string) => ({ fqrn: FQRN, masterKeys: [createPublicKey(master)], now: new Date(now) });
    expect(() => verifyWhitelist(bytes, opts("2026-03-11T11:59:59.999Z"))).not.toThrow();
    expectRepositoryError(() => verifyWhitelist(bytes, opts("2026-03-11T12:00:00Z")), /^\.cvmfswhitelist: expired at 2026-03-11T12:00:00\.000Z \(now 2026-03-11T12:00:00\.000Z\)/);
    expectRepositoryError(() => verifyWhitelist(bytes, opts("2026-03-11T12:34:55Z")), /expired at 2026-03-11T12:00:00/); // minutes do not count
    expectRepositoryError(() => verifyWhitelist(bytes, opts("2027-01-01T00:00:00Z")), /expired/);
    const { whitelist } = parseWhitelist(bytes);
    expect(isExpired(whitelist, new Date("2026-03-11T11:59:59Z"))).toBe(false);
    expect(isExpired(whitelist, new Date("2026-03-11T12:00:00Z"))).toBe(true);
  });

  test("tampering and trust failures, each with its own one-line error", () => {
    const bytes = signedWhitelist();
    const trusted = { fqrn: FQRN, masterKeys: [createPublicKey(master)], now: NOW };
    const { sigAt } = layout(bytes);
    // a letter byte (inside the fingerprint, so the format still parses)
    expectRepositoryError(() => verifyWhitelist(flip(bytes, sigAt - 60), trusted), /^\.cvmfswhitelist: the content does not match its hash line/);
    expectRepositoryError(() => verifyWhitelist(flip(bytes, sigAt + 17), trusted), ".cvmfswhitelist: bad signature: none of the 1 trusted master keys verifies it (add the repository's .pub with --keys or CVMFS_KEYS_DIR)");
    expectRepositoryError(() => verifyWhitelist(bytes, { ...trusted, masterKeys: [createPublicKey(otherMaster)] }), /bad signature: none of the 1 trusted master keys/);
    expectRepositoryError(() => verifyWhitelist(bytes, { ...trusted, masterKeys: [] }), /bad signature: none of the 0 trusted master keys/);
    expectRepositoryError(() => verifyWhitelist(bytes, { ...trusted, masterKeys: builtInMasterKeys().map((k) => k.key) }), /bad signature: none of the 5/);
    expectRepositoryError(() => verifyWhitelist(bytes, { ...trusted, fqrn: "other.example.org" }, "r/.cvmfswhitelist"),
      `r/.cvmfswhitelist: is for repository '${FQRN}', expected 'other.example.org'`);
    // a master key that signs a whitelist of another repository is not a way in
    expectRepositoryError(() => verifyWhitelist(signedWhitelist({ fqrn: "evil.example.org" }), trusted), /is for repository 'evil\.example\.org'/);
  });

  test("any one of several master keys may have signed it", () => {
    const keys = [...builtInMasterKeys().map((k) => k.key), createPublicKey(otherMaster), createPublicKey(master)];
    expect(verifyWhitelist(signedWhitelist(), { fqrn: FQRN, masterKeys: keys, now: NOW }).fqrn).toBe(FQRN);
    expect(verifyWhitelist(signedWhitelist({ key: otherMaster }), { fqrn: FQRN, masterKeys: keys, now: NOW }).fqrn).toBe(FQRN);
  });

  test("malformed lines are named", () => {
    const sign = (letter: string) => signWhitelist(letter, master);
    const body = `E20260409123456\nN${FQRN}\n${formatFingerprint(certificateFingerprint(certPem))}\n`;
    expectRepositoryError(() => parseWhitelist(sign(`2026031012345\n${body}`)), /^\.cvmfswhitelist: malformed line 1 '2026031012345'/);
    expectRepositoryError(() => parseWhitelist(sign(`20260310123456\nX20260409123456\nN${FQRN}\n`)), /^\.cvmfswhitelist: malformed line 2 'X20260409123456': expected the expiry time/);
    expectRepositoryError(() => parseWhitelist(sign(`20260310123456\nE20261309123456\nN${FQRN}\n`)), /malformed line 2/);
    expectRepositoryError(() => parseWhitelist(sign(`20260310123456\nE20260409123456\n${FQRN}\n`)), /^\.cvmfswhitelist: malformed line 3 'signing\.example\.org': expected the repository name/);
  });

  test("option lines, comments after fingerprints, unreadable fingerprint lines ignored", () => {
    const fp = certificateFingerprint(certPem, "rmd160");
    const letter = `20260310123456\nE20260409123456\nN${FQRN}\nVpkcs7\nWcachain\n${formatFingerprint(fp)} # release manager\nnot a fingerprint\n\n`;
    const { whitelist } = parseWhitelist(signWhitelist(letter, master));
    expect(whitelist).toMatchObject({ pkcs7: true, caChain: true });
    expect(whitelist.fingerprints).toHaveLength(1);
    expect(isListed(whitelist, fp)).toBe(true);
  });

  for (const alg of ["rmd160", "shake128"] as const) {
    test(`hashed with ${alg}: the hash line carries -${alg} and the signature covers it`, () => {
      const bytes = signedWhitelist({ algorithm: alg, fingerprints: [certificateFingerprint(certPem, alg)] });
      expect(layout(bytes).hashLine.toString()).toMatch(new RegExp(`^[0-9a-f]{40}-${alg}$`));
      const w = verifyWhitelist(bytes, { fqrn: FQRN, masterKeys: [createPublicKey(master)], now: NOW });
      expect(isListed(w, certificateFingerprint(certPem, alg))).toBe(true);
    });
  }

  sslTest("openssl pkeyutl -verifyrecover recovers the ASCII hex hash from the signature", async () => {
    for (const alg of ["sha1", "shake128"] as const) {
      const { hashLine, signature } = layout(signedWhitelist({ algorithm: alg }));
      writeFileSync(join(work, "wsig"), signature);
      const r = await openssl("pkeyutl", "-verifyrecover", "-pubin", "-inkey", "master.pub", "-in", "wsig");
      expect(r.stdout).toBe(hashLine.toString());
    }
  });

  sslTest("a whitelist signed by openssl pkeyutl -sign (as cvmfs_server does) verifies here", async () => {
    const letter = whitelistLetter({ fqrn: FQRN, fingerprints: [certificateFingerprint(certPem)], now: NOW, validDays: 30 });
    const hex = toHex(hashBytes("sha1", letter));
    writeFileSync(join(work, "whash"), hex);
    await openssl("pkeyutl", "-sign", "-inkey", "master.key", "-in", "whash", "-out", "wsig2");
    const bytes = assembleSigned(letter, hex, new Uint8Array(await Bun.file(join(work, "wsig2")).arrayBuffer()));
    expect(Buffer.from(bytes).equals(Buffer.from(signedWhitelist()))).toBe(true);
    expect(verifyWhitelist(bytes, { fqrn: FQRN, masterKeys: [createPublicKey(master)], now: NOW }).fqrn).toBe(FQRN);
  });
});

describe("publisher certificate", () => {
  sslTest("fingerprint and its whitelist line equal openssl x509 -fingerprint -sha1", async () => {
    const r = await openssl("x509", "-in", "repo.crt", "-noout", "-fingerprint", "-sha1");
    const line = r.stdout.trim().split("=")[1];
    expect(formatFingerprint(certificateFingerprint(certPem))).toBe(line);
    // the first certificate of a PEM with several
    const second = await generateRepositoryCertificate("second.example.org", otherMaster);
    expect(formatFingerprint(certificateFingerprint(certPem + second))).toBe(line);
    expect(formatFingerprint(certificateFingerprint(second + certPem))).not.toBe(line);
  });

  sslTest("self-signed, CN '<fqrn> CernVM-FS Release Managers', one year, sha256WithRSA, positive 64-bit serial", async () => {
    const text = (await openssl("x509", "-in", "repo.crt", "-noout", "-text")).stdout;
    expect(text).toContain("Signature Algorithm: sha256WithRSAEncryption");
    expect(text).toMatch(new RegExp(`Subject: CN ?= ?${FQRN.replace(/\./g, "\\.")} CernVM-FS Release Managers`));
    expect(text).toMatch(new RegExp(`Issuer: CN ?= ?${FQRN.replace(/\./g, "\\.")} CernVM-FS Release Managers`));
    await openssl("verify", "-CAfile", "repo.crt", "repo.crt"); // its own key signed it
    const serial = (await openssl("x509", "-in", "repo.crt", "-noout", "-serial")).stdout.trim().split("=")[1];
    expect(serial).toMatch(/^[0-7][0-9A-F]{15}$/);
    const dates = (await openssl("x509", "-in", "repo.crt", "-noout", "-startdate", "-enddate")).stdout;
    const [start, end] = [...dates.matchAll(/=(.+)/g)].map((m) => Date.parse(m[1]));
    expect((end - start) / 86400_000).toBe(365);
    expect(Math.abs(start - Date.now())).toBeLessThan(600_000);
    // the public key is the repository key's
    expect(certificatePublicKey(certPem).export({ format: "pem", type: "spki" })).toBe(createPublicKey(repoKey).export({ format: "pem", type: "spki" }));
  });

  test("long repository names are cut to 30 characters + '[...]' in the CN", () => {
    expect(repositoryCertificateCommonName("a.org")).toBe("a.org CernVM-FS Release Managers");
    expect(repositoryCertificateCommonName("x".repeat(30))).toBe(`${"x".repeat(30)} CernVM-FS Release Managers`);
    expect(repositoryCertificateCommonName("y".repeat(31))).toBe(`${"y".repeat(30)}[...] CernVM-FS Release Managers`);
  });

  test("a fingerprint line with a tag; not a certificate is a RepositoryError", () => {
    expect(formatFingerprint({ algorithm: "rmd160", digest: new Uint8Array(20).fill(0xab) })).toBe(`${Array(20).fill("AB").join(":")}-RMD160`);
    expectRepositoryError(() => certificateFingerprint("hello"), /^certificate: not a PEM certificate/);
    expectRepositoryError(() => certificatePublicKey("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "data/ab/cdX"), /^data\/ab\/cdX: not a valid PEM certificate/);
  });
});

describe("master keys", () => {
  test("the five built-in keys load as 2048-bit RSA public keys", () => {
    const keys = builtInMasterKeys();
    expect(keys.map((k) => k.name).sort()).toEqual(["cern-it1.cern.ch.pub", "cern-it4.cern.ch.pub", "cern-it5.cern.ch.pub", "egi.eu.pub", "opensciencegrid.org.pub"]);
    for (const { key } of keys) {
      expect(key.type).toBe("public");
      expect(key.asymmetricKeyType).toBe("rsa");
      expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
    }
  });

  test("built-in plus --keys and CVMFS_KEYS_DIR; replaceBuiltIn keeps only those; ':' lists", () => {
    const a = join(work, "keys-a"), b = join(work, "keys-b");
    mkdirSync(a); mkdirSync(b);
    writeFileSync(join(a, "m1.pub"), pem(createPublicKey(master)));
    writeFileSync(join(a, "notes.txt"), "not a key, not a .pub");
    writeFileSync(join(b, "m2.pub"), pem(createPublicKey(otherMaster)));
    const names = (ks: { name: string }[]) => ks.map((k) => k.name);
    expect(loadMasterKeys({ env: {} })).toHaveLength(5);
    expect(names(loadMasterKeys({ env: {}, keysDir: a })).slice(5)).toEqual(["m1.pub"]);
    expect(names(loadMasterKeys({ env: {}, keysDir: a, replaceBuiltIn: true }))).toEqual(["m1.pub"]);
    expect(names(loadMasterKeys({ env: { CVMFS_KEYS_DIR: `${a}:${join(b, "m2.pub")}` } }))).toEqual(["m1.pub", "m2.pub"]); // replaces, as for the cvmfs client
    expect(names(loadMasterKeys({ env: { CVMFS_KEYS_DIR: a }, replaceBuiltIn: false, keysDir: b })).slice(5)).toEqual(["m1.pub", "m2.pub"]);
    const verified = verifyWhitelist(signedWhitelist(), { fqrn: FQRN, masterKeys: loadMasterKeys({ env: {}, keysDir: a }).map((k) => k.key), now: NOW });
    expect(verified.fqrn).toBe(FQRN);
  });

  test("a .pub that is not a PEM public key, or a missing dir, is named", () => {
    const bad = join(work, "keys-bad");
    mkdirSync(bad);
    writeFileSync(join(bad, "junk.pub"), "hello\n");
    expectRepositoryError(() => loadMasterKeys({ env: {}, keysDir: bad }), `${join(bad, "junk.pub")}: not a PEM public key (no 'BEGIN PUBLIC KEY' block)`);
    writeFileSync(join(bad, "junk.pub"), pem(master)); // a private key where the public one belongs
    expectRepositoryError(() => loadMasterKeys({ env: {}, keysDir: bad }), /junk\.pub: not a PEM public key/);
    writeFileSync(join(bad, "junk.pub"), "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
    expectRepositoryError(() => loadMasterKeys({ env: {}, keysDir: bad }), /junk\.pub: not a PEM public key \(/);
    expectRepositoryError(() => loadMasterKeys({ env: { CVMFS_KEYS_DIR: join(work, "nope") } }), `${join(work, "nope")}: no such key file or directory`);
    const empty = join(work, "keys-empty");
    mkdirSync(empty);
    expectRepositoryError(() => loadMasterKeys({ env: { CVMFS_KEYS_DIR: empty } }), /keys-empty: no \*\.pub master key found/);
  });
});
