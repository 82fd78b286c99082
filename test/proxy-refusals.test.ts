import { afterAll, beforeAll, describe, expect } from "bun:test";
import { chmodSync, chownSync, copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createPrivateKey } from "node:crypto";
import { makePki, type Pki } from "./helpers/pki";
import { cleanEnv, cvm, run } from "./helpers/run";
import { parsePem, toPem } from "../src/proxy/pem";
import { parseCertificate } from "../src/proxy/cert";
import { testWith } from "./helpers/tools";

const sslTest = testWith("openssl");
let pki: Pki;
let n = 0;

beforeAll(async () => {
  if (Bun.which("openssl")) pki = await makePki({ name: "refuse" });
}, 60_000);
afterAll(() => { if (pki) rmSync(pki.dir, { recursive: true, force: true }); }, 30_000);

/** Copies a fixture with the given mode, so each case has its own file. */
function copyWithMode(src: string, mode: number): string {
  const dst = join(pki.dir, `case-${++n}-${src.split("/").pop()}`);
  copyFileSync(src, dst);
  chmodSync(dst, mode);
  return dst;
}

/**
 * A wrong passphrase whose decryption passes the padding check, so that the
 * key's decoder, not the cipher, fails: searched for in-process with the same
 * crypto library the binary uses ("wrong-0", "wrong-1", …), so the test never
 * depends on chance.
 */
function passphraseThatDecryptsToGarbage(keyPath: string): string {
  const text = readFileSync(keyPath, "latin1");
  for (let i = 0; i < 20_000; i++) {
    const passphrase = `wrong-${i}`;
    try {
      createPrivateKey({ key: text, passphrase });
    } catch (err) {
      const code = (err as { code?: string }).code ?? "";
      if (/DECODE_ERROR/.test(code)) return passphrase;
      if (/BAD_DECRYPT/.test(code)) continue;
      throw new Error(`${keyPath} with '${passphrase}': unexpected ${code} ${(err as Error).message}`);
    }
    throw new Error(`${keyPath}: '${passphrase}' opens the key`);
  }
  throw new Error(`${keyPath}: no passphrase among wrong-0 … wrong-19999 decrypts to garbage`); // (255/256)^20000 ≈ 1e-34
}

/**
 * Runs proxy init expecting a refusal: the exact one-line message, the exit
 * code, no new proxy, an existing proxy untouched, and no temp file left.
 */
async function expectRefusal(args: string[], message: string, opts: { code?: number; stdin?: string } = {}) {
  const out = join(pki.dir, `out-${++n}`);
  const old = "an older proxy that must survive\n";
  writeFileSync(out, old, { mode: 0o600 });
  const r = await cvm(["proxy", "init", "-q", "--out", out, ...args], { stdin: opts.stdin, env: cleanEnv() });
  expect(r.stderr.split("\n")[0]).toBe(`cvm: ${message}`);
  expect(r.code).toBe(opts.code ?? 1);
  expect(r.stderr).not.toContain("    at "); // no stack trace
  expect(readFileSync(out, "utf8")).toBe(old);
  expect(readdirSync(pki.dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
}

describe("cvm proxy init refuses", () => {
  sslTest("a key readable by group or others, naming the file and its mode (before asking for a passphrase)", async () => {
    for (const mode of [0o640, 0o644, 0o604]) {
      const key = copyWithMode(pki.userKey, mode);
      await expectRefusal(["--cert", pki.userCert, "--key", key],
        `${key}: permissions 0${mode.toString(8)} are too permissive; a private key may be at most 0600 (chmod 600 ${key})`);
    }
  });

  // only root can give a file away
  testWith("openssl").skipIf(process.getuid!() !== 0)("a key owned by someone else", async () => {
    const key = copyWithMode(pki.keys.plain_pkcs8, 0o600);
    chownSync(key, 65534, 65534);
    await expectRefusal(["--cert", pki.userCert, "--key", key], `${key}: key file is owned by uid 65534, not by you (uid 0)`);
  });

  sslTest("a certificate writable by others", async () => {
    const cert = copyWithMode(pki.userCert, 0o666);
    await expectRefusal(["--cert", cert, "--key", pki.keys.plain_pkcs8], `${cert}: permissions 0666 are too permissive; a certificate may be at most 0644`);
  });

  sslTest("a wrong passphrase, for every encrypted key encoding", async () => {
    for (const key of [pki.userKey, pki.keys.pkcs1_des3, pki.keys.pkcs1_aes256, pki.keys.pkcs8_v1_3des, pki.keys.pkcs8_pbes2_des3])
      await expectRefusal(["--cert", pki.userCert, "--key", key, "--pwstdin"], `${key}: bad passphrase for the key`, { stdin: "wrong\n" });
  });

  sslTest("a wrong passphrase that happens to unpad cleanly (~1 in 256) is still a bad passphrase, for every encrypted encoding", async () => {
    for (const key of [pki.keys.pkcs1_aes256, pki.keys.pkcs1_des3, pki.keys.pkcs8_v1_3des, pki.keys.pkcs8_pbes2_des3, pki.keys.pkcs8_pbes2_aes256]) {
      const passphrase = passphraseThatDecryptsToGarbage(key);
      await expectRefusal(["--cert", pki.userCert, "--key", key, "--pwstdin"], `${key}: bad passphrase for the key`, { stdin: passphrase + "\n" });
    }
  }, 60_000);

  sslTest("an empty passphrase on --pwstdin", async () => {
    await expectRefusal(["--cert", pki.userCert, "--key", pki.userKey, "--pwstdin"], "--pwstdin: standard input is empty; expected the passphrase on its first line", { stdin: "" });
  });

  sslTest("missing files", async () => {
    await expectRefusal(["--cert", "/nonexistent/usercert.pem", "--key", pki.userKey], "/nonexistent/usercert.pem: no such certificate file");
    await expectRefusal(["--cert", pki.userCert, "--key", "/nonexistent/userkey.pem"], "/nonexistent/userkey.pem: no such key file");
  });

  sslTest("files that are not PEM", async () => {
    const junk = join(pki.dir, "junk.pem");
    writeFileSync(junk, "this is not a certificate\n", { mode: 0o600 });
    await expectRefusal(["--cert", junk, "--key", pki.userKey], `${junk}: not a PEM certificate (no 'BEGIN CERTIFICATE' block)`);
    await expectRefusal(["--cert", pki.userCert, "--key", junk], `${junk}: not a PEM private key (no 'BEGIN … PRIVATE KEY' block)`);
  });

  sslTest("a certificate and key that do not match", async () => {
    await expectRefusal(["--cert", pki.userCert, "--key", pki.otherKey],
      `${pki.userCert} and ${pki.otherKey} do not match: the key is not the private key of this certificate`);
  });

  sslTest("an expired user certificate", async () => {
    // openssl 3.0 cannot back-date a certificate; sign one with the test CA's key ourselves
    await import("reflect-metadata");
    const x509 = await import("@peculiar/x509");
    const { createPrivateKey, createPublicKey } = await import("node:crypto");
    const alg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    const caKey = await crypto.subtle.importKey("pkcs8", createPrivateKey(readFileSync(join(pki.dir, "ca.key"))).export({ format: "der", type: "pkcs8" }), alg, false, ["sign"]);
    const userPub = await crypto.subtle.importKey("spki", createPublicKey(readFileSync(pki.keys.plain_pkcs8)).export({ format: "der", type: "spki" }), alg, true, ["verify"]);
    const ca = new x509.X509Certificate(readFileSync(pki.caCert, "latin1"));
    const expired = await x509.X509CertificateGenerator.create({
      serialNumber: "0a", subject: "DC=org, DC=example, O=Test, CN=Old Jane", issuer: ca.subject,
      notBefore: new Date("2020-01-01T00:00:00Z"), notAfter: new Date("2021-01-01T00:00:00Z"),
      signingAlgorithm: alg, publicKey: userPub, signingKey: caKey,
    });
    const cert = join(pki.dir, "expired.pem");
    writeFileSync(cert, expired.toString("pem") + "\n", { mode: 0o644 });
    await expectRefusal(["--cert", cert, "--key", pki.keys.plain_pkcs8], `${cert}: the user certificate expired on Fri, 01 Jan 2021 00:00:00 GMT`);
  });

  sslTest("bad option values are usage errors (exit 2)", async () => {
    const cred = ["--cert", pki.userCert, "--key", pki.keys.plain_pkcs8];
    await expectRefusal([...cred, "--bits", "3000"], "--bits '3000': expected one of 512, 1024, 2048, 4096", { code: 2 });
    await expectRefusal([...cred, "--valid", "twelve"], "--valid 'twelve': expected hours:minutes, e.g. 12:00", { code: 2 });
    await expectRefusal([...cred, "--valid", "1:75"], "--valid '1:75': expected hours:minutes, e.g. 12:00", { code: 2 });
    await expectRefusal([...cred, "--path-length", "-1"], "--path-length '-1': expected a non-negative whole number", { code: 2 });
    await expectRefusal([...cred, "--limited", "--independent"], "--limited and --independent exclude each other", { code: 2 });
    await expectRefusal([...cred, "--voms", "atlas"], "unknown option --voms", { code: 2 });
  });

  sslTest("an output directory that does not exist", async () => {
    const r = await cvm(["proxy", "init", "-q", "--cert", pki.userCert, "--key", pki.keys.plain_pkcs8, "--out", "/nonexistent/dir/proxy"], { env: cleanEnv() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^cvm: \/nonexistent\/dir\/proxy: cannot write the proxy: .*ENOENT|no such file/i);
    expect(existsSync("/nonexistent/dir/proxy")).toBe(false);
  });

  sslTest("no terminal and no --pwstdin for an encrypted key", async () => {
    // setsid detaches from any controlling terminal, as under cron or CI
    const { run } = await import("./helpers/run");
    const out = join(pki.dir, "no-tty");
    const r = await run(["setsid", "-w", join(import.meta.dir, "..", "dist", "cvm"), "proxy", "init", "-q", "--cert", pki.userCert, "--key", pki.userKey, "--out", out], { env: cleanEnv() });
    expect(r.stderr).toBe("cvm: no terminal to ask for the passphrase on; pass it on standard input with --pwstdin\n");
    expect(r.code).toBe(1);
    expect(existsSync(out)).toBe(false);
  });
});

/** PEM armour around any bytes. */
const pemOf = (label: string, der: Uint8Array) => toPem(label, der);

/** The user certificate's DER, for surgery. */
const userDer = () => Buffer.from(parsePem(readFileSync(pki.userCert, "latin1"))[0].der);

/** A copy of `der` with `at` bytes replaced. */
function patched(der: Buffer, at: number, bytes: number[]): Buffer {
  const out = Buffer.from(der);
  out.set(bytes, at);
  return out;
}

/**
 * Certificate files that are not certificates, each with the one line it must
 * give after "<file>: " (for a certificate file and for a proxy file alike).
 */
function malformedCertificates(): { name: string; body: string | Uint8Array; message: (what: string) => string }[] {
  const der = userDer();
  const spkiAt = der.indexOf(Buffer.from(parseCertificate(der).spkiDer));
  const ku = der.indexOf(Buffer.from("0603551d0f", "hex")) + 5; // keyUsage OID, then [critical] OCTET STRING { BIT STRING }
  const kuBitString = ku + (der[ku] === 0x01 ? 3 : 0) + 2;
  expect(der[kuBitString]).toBe(0x03);
  const malformed = (why: string) => () => `malformed certificate: ${why}`;
  return [
    { name: "empty", body: "", message: () => "the file is empty; expected a PEM certificate" },
    { name: "DER 30 00", body: pemOf("CERTIFICATE", Uint8Array.from([0x30, 0x00])), message: malformed("tbsCertificate is missing") },
    { name: "not DER at all", body: pemOf("CERTIFICATE", Buffer.from("hello, world")), message: malformed("certificate has tag 0x68, expected 0x30") },
    { name: "truncated", body: pemOf("CERTIFICATE", der.subarray(0, der.length >> 1)), message: malformed("DER value runs past its container") },
    { name: "trailing bytes", body: pemOf("CERTIFICATE", Buffer.concat([der, Buffer.from([0, 0, 0])])), message: malformed("3 stray bytes after the certificate") },
    { name: "bad SubjectPublicKeyInfo", body: pemOf("CERTIFICATE", patched(der, spkiAt + 24, new Array(16).fill(0))),
      message: malformed("the subject public key info is not a public key this tool can read") },
    { name: "keyUsage not a BIT STRING", body: pemOf("CERTIFICATE", patched(der, kuBitString, [0x04])), message: malformed("keyUsage has tag 0x04, expected 0x03") },
    { name: "bad base64", body: "-----BEGIN CERTIFICATE-----\nMII!AAAA\n-----END CERTIFICATE-----\n",
      message: () => "the CERTIFICATE block that starts on line 1 is not valid base64" },
    { name: "no END line", body: "text before\n-----BEGIN CERTIFICATE-----\n" + der.toString("base64") + "\n",
      message: () => "the CERTIFICATE block that starts on line 2 has no '-----END CERTIFICATE-----' line" },
    { name: "binary DER", body: der, message: () => "not a PEM certificate (no 'BEGIN CERTIFICATE' block; binary DER? convert it with 'openssl x509 -inform der')" },
    { name: "a key", body: readFileSync(pki.keys.plain_pkcs1, "latin1"), message: () => "not a PEM certificate (no 'BEGIN CERTIFICATE' block; it holds a 'RSA PRIVATE KEY' block)" },
    { name: "10 MB", body: Buffer.alloc(10 << 20, "A"), message: (what) => `too large for a ${what} file (more than 1048576 bytes)` },
  ];
}

describe("malformed and odd credential files end as one line naming the file", () => {
  sslTest("certificates: empty, truncated, trailing bytes, bad SPKI, bad extension, bad base64, DER, a key, 10 MB", async () => {
    for (const c of malformedCertificates()) {
      const cert = join(pki.dir, `malformed-${++n}.pem`);
      writeFileSync(cert, c.body, { mode: 0o644 });
      await expectRefusal(["--cert", cert, "--key", pki.keys.plain_pkcs8], `${cert}: ${c.message("certificate")}`);
    }
  }, 60_000);

  sslTest("keys: empty, a certificate, garbage in the armour, 10 MB", async () => {
    const cases: [string, string | Uint8Array, string | RegExp][] = [
      ["empty", "", "the file is empty; expected a PEM private key"],
      ["certificate", readFileSync(pki.userCert, "latin1"), "not a PEM private key (no 'BEGIN … PRIVATE KEY' block; it holds a 'CERTIFICATE' block)"],
      ["garbage", pemOf("RSA PRIVATE KEY", Buffer.from("hello, world")), /^malformed private key \(ERR_[A-Z0-9_]+\)$/],
      ["10 MB", Buffer.alloc(10 << 20, "A"), "too large for a key file (more than 1048576 bytes)"],
    ];
    for (const [name, body, message] of cases) {
      const key = join(pki.dir, `malformed-key-${++n}.pem`);
      writeFileSync(key, body, { mode: 0o600 });
      const r = await cvm(["proxy", "init", "-q", "--cert", pki.userCert, "--key", key, "--out", join(pki.dir, `never-${n}`)], { env: cleanEnv() });
      expect({ name, code: r.code, lines: r.stderr.split("\n").length }).toEqual({ name, code: 1, lines: 2 });
      const text = r.stderr.trimEnd().slice(`cvm: ${key}: `.length);
      expect(r.stderr).toStartWith(`cvm: ${key}: `);
      if (typeof message === "string") expect(text).toBe(message); else expect(text).toMatch(message);
    }
  });

  sslTest("not regular files are refused by type before any read: a FIFO (no hang), /dev/zero, a directory", async () => {
    const fifo = join(pki.dir, "a-fifo");
    expect((await run(["mkfifo", "-m", "0600", fifo])).code).toBe(0);
    const cases: [string, string][] = [[fifo, "a fifo"], ["/dev/zero", "a character device"], [pki.dir, "a directory"]];
    for (const [path, kind] of cases) {
      await expectRefusal(["--cert", path, "--key", pki.keys.plain_pkcs8], `${path}: is ${kind}, not a certificate file`);
      await expectRefusal(["--cert", pki.userCert, "--key", path], `${path}: is ${kind}, not a key file`);
      const info = await cvm(["proxy", "info", "-f", path]);
      expect({ code: info.code, stderr: info.stderr }).toEqual({ code: 1, stderr: `cvm: ${path}: is ${kind}, not a proxy file\n` });
      expect((await cvm(["proxy", "destroy", "-f", path])).stderr).toBe(`cvm: ${path}: not a regular file; refusing to remove it\n`);
    }
    expect(existsSync(fifo)).toBe(true);
  });

  sslTest("proxy info: the same malformed certificates, as proxy files; -exists fails silently", async () => {
    for (const c of malformedCertificates()) {
      const path = join(pki.dir, `malformed-proxy-${++n}`);
      writeFileSync(path, c.body, { mode: 0o600 });
      const r = await cvm(["proxy", "info", "-f", path]);
      expect({ name: c.name, code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ name: c.name, code: 1, stdout: "", stderr: `cvm: ${path}: ${c.message("proxy")}\n` });
      const e = await cvm(["proxy", "info", "-f", path, "-exists"]);
      expect({ name: c.name, code: e.code, out: e.stdout + e.stderr }).toEqual({ name: c.name, code: 1, out: "" });
    }
  }, 60_000);
});
