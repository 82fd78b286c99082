import { beforeAll, describe, expect } from "bun:test";
import { chmodSync, chownSync, copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makePki, PASS, type Pki } from "./helpers/pki";
import { cleanEnv, cvm } from "./helpers/run";
import { testWith } from "./helpers/tools";

const sslTest = testWith("openssl");
let pki: Pki;
let n = 0;

beforeAll(async () => {
  if (Bun.which("openssl")) pki = await makePki({ name: "refuse" });
}, 60_000);

/** Copies a fixture with the given mode, so each case has its own file. */
function copyWithMode(src: string, mode: number): string {
  const dst = join(pki.dir, `case-${++n}-${src.split("/").pop()}`);
  copyFileSync(src, dst);
  chmodSync(dst, mode);
  return dst;
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

  sslTest("a key owned by someone else", async () => {
    if (process.getuid!() !== 0) return; // only root can give a file away
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
