import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cvm } from "./helpers/run";

const FQRN = "tamper.example.org";
let work: string, storage: string, keys: string, env: Record<string, string>;
let caseNo = 0;

/** A private copy of the pristine storage for one tampering case. */
function copyStorage(): string {
  const dir = join(work, `case-${++caseNo}`);
  cpSync(storage, dir, { recursive: true });
  return dir;
}

function flipByte(file: string, at: (len: number) => number) {
  const b = readFileSync(file);
  b[at(b.length)] ^= 0x01;
  writeFileSync(file, b);
}

const read = (dir: string, args: string[], extraEnv: Record<string, string> = {}) =>
  cvm(["fs", args[0], dir, "--fqrn", FQRN, "--keys", keys, ...args.slice(1)], { env: { ...env, ...extraEnv } });

const objectFile = (dir: string, hex: string, suffix = "") => join(dir, "data", hex.slice(0, 2), hex.slice(2) + suffix);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cvm-tamper-"));
  storage = join(work, "storage"); keys = join(work, "keys");
  env = { CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state") };
  const src = join(work, "src");
  mkdirSync(join(src, "sub"), { recursive: true });
  writeFileSync(join(src, "hello.txt"), "hello, world\n");
  writeFileSync(join(src, "sub", ".cvmfscatalog"), "");
  writeFileSync(join(src, "sub", "inner.txt"), "inside a nested catalog\n");
  for (const args of [["init", FQRN, "--storage", storage, "--keys", keys], ["sync", FQRN, src]]) {
    const r = await cvm(["publish", ...args], { env });
    if (r.code !== 0) throw new Error(r.stderr);
  }
}, 60_000);

afterAll(() => rmSync(work, { recursive: true, force: true }), 120_000);

describe("cvm fs refuses a tampered repository, naming what failed, serving nothing", () => {
  test("pristine: reads", async () => {
    expect((await read(storage, ["cat", "/hello.txt"])).stdout).toBe("hello, world\n");
  });

  test("a flipped byte in a data object", async () => {
    const dir = copyStorage();
    const hash = JSON.parse((await read(dir, ["stat", "/hello.txt", "--json"])).stdout).hash;
    flipByte(objectFile(dir, hash), (n) => n - 1);
    const r = await read(dir, ["cat", "/hello.txt"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toStartWith(`cvm: /hello.txt (data/${hash.slice(0, 2)}/${hash.slice(2)}): content hash mismatch`);
  });

  test("a flipped byte in a catalog", async () => {
    const dir = copyStorage();
    const info = JSON.parse((await read(dir, ["info", "--json"])).stdout);
    flipByte(objectFile(dir, info.rootHash, "C"), (n) => n >> 1);
    const r = await read(dir, ["ls", "/"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^cvm: catalog \/ \(data\/.+C\): content hash mismatch/);
  });

  test("a flipped byte in the manifest's letter: its hash line no longer matches", async () => {
    const dir = copyStorage();
    const file = join(dir, ".cvmfspublished");
    // Inside the root catalog hash (field C): another hex digit, so the line still parses and only the hash can tell.
    const bytes = readFileSync(file);
    bytes[3] = bytes[3] === 0x30 ? 0x31 : 0x30;
    writeFileSync(file, bytes);
    const r = await read(dir, ["ls", "/"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^cvm: \S*\.cvmfspublished: the content does not match its hash line \(expected [0-9a-f]{40}, got [0-9a-f]{40}\)\n$/);
  });

  test("a flipped byte in the manifest's signature", async () => {
    const dir = copyStorage();
    flipByte(join(dir, ".cvmfspublished"), (n) => n - 5);
    const r = await read(dir, ["ls", "/"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^cvm: \S*\.cvmfspublished: bad signature \(not made by the key of the repository certificate\)\n$/);
  });

  // The whitelist's defences, one test each. The bytes flipped mean the same on
  // any date (a flip in the expiry line would change meaning with the month).
  test("whitelist, letter hash: a flipped byte in the repository name line", async () => {
    const dir = copyStorage();
    const file = join(dir, ".cvmfswhitelist");
    flipByte(file, () => readFileSync(file).indexOf(`N${FQRN}\n`) + 1); // 't' -> 'u'
    const r = await read(dir, ["ls", "/"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^cvm: \S*\.cvmfswhitelist: the content does not match its hash line \(expected [0-9a-f]{40}, got [0-9a-f]{40}\)\n$/);
  });

  test("whitelist, signature: a flipped byte in the signature", async () => {
    const dir = copyStorage();
    flipByte(join(dir, ".cvmfswhitelist"), (n) => n - 1);
    const r = await read(dir, ["ls", "/"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    // the five built-in master keys plus the one --keys adds
    expect(r.stderr).toMatch(/^cvm: \S*\.cvmfswhitelist: bad signature: none of the 6 trusted master keys verifies it \(add the repository's \.pub with --keys or CVMFS_KEYS_DIR\)\n$/);
  });

  test("whitelist, parser: a signed letter whose expiry line is malformed (month 13)", async () => {
    const dir = copyStorage();
    const { loadPublisherKeys } = await import("../src/cvmfs/publish/keys");
    const { signWhitelist } = await import("../src/cvmfs/format/whitelist");
    const { certificateFingerprint, formatFingerprint } = await import("../src/cvmfs/format/certificate");
    const k = loadPublisherKeys(keys, FQRN);
    const letter = `20260101000000\nE20261301000000\nN${FQRN}\n${formatFingerprint(certificateFingerprint(k.certificatePem))}\n`;
    writeFileSync(join(dir, ".cvmfswhitelist"), signWhitelist(letter, k.masterKey));
    const r = await read(dir, ["ls", "/"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^cvm: \S*\.cvmfswhitelist: malformed line 2 'E20261301000000': expected the expiry time EYYYYMMDDHHMMSS \(UTC\)\n$/);
  });

  test("an expired whitelist", async () => {
    const dir = copyStorage();
    const { writeWhitelist } = await import("../src/cvmfs/publish/init");
    writeWhitelist({ fqrn: FQRN, storage: dir, keysDir: keys, days: 1, algorithm: "sha1", now: new Date(Date.now() - 3 * 86400_000) });
    const r = await read(dir, ["ls", "/"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\.cvmfswhitelist.*expired/);
  });

  test("a whitelist that does not list the certificate", async () => {
    const dir = copyStorage();
    const { loadPublisherKeys } = await import("../src/cvmfs/publish/keys");
    const { signWhitelist, whitelistLetter } = await import("../src/cvmfs/format/whitelist");
    const { hashBytes } = await import("../src/cvmfs/format/hash");
    const k = loadPublisherKeys(keys, FQRN);
    const letter = whitelistLetter({ fqrn: FQRN, fingerprints: [hashBytes("sha1", "some other certificate")], now: new Date(), validDays: 30 });
    writeFileSync(join(dir, ".cvmfswhitelist"), signWhitelist(letter, k.masterKey));
    const r = await read(dir, ["ls", "/"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not on the whitelist/);
  });

  test("a repository signed by an unknown master key (no --keys)", async () => {
    const r = await cvm(["fs", "ls", storage, "--fqrn", FQRN], { env });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/\.cvmfswhitelist.*signature/);
  });

  test("a rollback to an older manifest", async () => {
    const dir = copyStorage();
    const old = readFileSync(join(dir, ".cvmfspublished"));
    const src = join(work, "src2");
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "newer.txt"), "newer\n");
    const stateEnv = { CVM_STATE_DIR: join(work, "rollback-state") };
    expect((await read(dir, ["ls", "/"], stateEnv)).code).toBe(0);
    // no wait for a later second: at an equal publication time the higher revision is the newer manifest
    const p = await cvm(["publish", "sync", FQRN, src, "--storage", dir, "--keys", keys], { env });
    expect(p.code).toBe(0);
    expect((await read(dir, ["ls", "/"], stateEnv)).stdout).toBe("newer.txt\n");
    writeFileSync(join(dir, ".cvmfspublished"), old);
    const r = await read(dir, ["ls", "/"], stateEnv);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/older .* than one already seen .*rollback/);
  });

  test("a manifest for another repository", async () => {
    const r = await cvm(["fs", "ls", storage, "--fqrn", "other.example.org", "--keys", keys], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/names repository 'tamper.example.org', expected 'other.example.org'/);
  });
});
