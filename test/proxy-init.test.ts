import { afterAll, beforeAll, describe, expect } from "bun:test";
import { existsSync, rmSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { makePki, PASS, type Pki } from "./helpers/pki";
import { cleanEnv, cvm, run } from "./helpers/run";
import { testWith } from "./helpers/tools";

const gridTest = testWith("openssl", "grid-proxy-info", "voms-proxy-info");
let pki: Pki;
let n = 0;
const out = () => join(pki.dir, `proxy-${++n}`);

beforeAll(async () => {
  pki = await makePki({ name: "init" });
}, 60_000);
afterAll(() => { if (pki) rmSync(pki.dir, { recursive: true, force: true }); }, 30_000);

async function init(extra: string[], key = pki.userKey) {
  const path = out();
  const r = await cvm(["proxy", "init", "--cert", pki.userCert, "--key", key, "--pwstdin", "--out", path, ...extra], { stdin: PASS + "\n", env: cleanEnv() });
  return { ...r, path };
}

/** The checks every proxy cvm makes must pass with the real tools. */
async function acceptedByRealTools(path: string, expectedType: string) {
  const verify = await run(["openssl", "verify", "-allow_proxy_certs", "-CApath", pki.certDir, "-untrusted", path, path]);
  expect(verify.stdout.trim()).toBe(`${path}: OK`);
  expect(verify.code).toBe(0);
  const type = await run(["grid-proxy-info", "-f", path, "-type"]);
  expect(type.code).toBe(0);
  expect(type.stdout.trim()).toBe(expectedType);
  const voms = await run(["voms-proxy-info", "-all", "-file", path], { env: { X509_CERT_DIR: pki.certDir } });
  expect(voms.code).toBe(0);
  expect(voms.stdout).toContain("type      : RFC compliant proxy");
}

describe("cvm proxy init", () => {
  gridTest("default proxy: accepted by openssl, grid-proxy-info and voms-proxy-info; printed like grid-proxy-init", async () => {
    const r = await init(["--valid", "1:30"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("Your identity: /DC=org/DC=example/O=Test/CN=Jane Doe");
    expect(lines[1]).toMatch(/^Creating proxy \.+ Done$/);
    expect(lines[2]).toMatch(/^Your proxy is valid until: \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
    await acceptedByRealTools(r.path, "RFC 3820 compliant impersonation proxy");
    const info = await run(["grid-proxy-info", "-f", r.path, "-timeleft"]);
    expect(Math.abs(Number(info.stdout) - 5400)).toBeLessThan(30);
  });

  gridTest("file: mode 0600; proxy cert, unencrypted key, user cert in that order", async () => {
    const r = await init([]);
    expect(r.code).toBe(0);
    expect(statSync(r.path).mode & 0o777).toBe(0o600);
    const labels = [...readFileSync(r.path, "latin1").matchAll(/-----BEGIN ([A-Z ]+)-----/g)].map((m) => m[1]);
    expect(labels).toEqual(["CERTIFICATE", "RSA PRIVATE KEY", "CERTIFICATE"]);
    expect(readFileSync(r.path, "latin1")).toContain(readFileSync(pki.userCert, "latin1").trim());
    const key = await run(["openssl", "rsa", "-in", r.path, "-check", "-noout"]);
    expect(key.stdout).toContain("RSA key ok");
  });

  gridTest("extensions as grid-proxy-init writes them, and subject = issuer + CN=<serial>", async () => {
    const r = await init(["--path-length", "2"]);
    const text = (await run(["openssl", "x509", "-in", r.path, "-noout", "-text"])).stdout;
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment, Data Encipherment/);
    expect(text).toMatch(/X509v3 Extended Key Usage: \s*\n\s+TLS Web Client Authentication/);
    expect(text).toMatch(/Proxy Certificate Information: critical\s+Path Length Constraint: 0?2\s+Policy Language: Inherit all/);
    expect(text).toContain("Signature Algorithm: sha256WithRSAEncryption");
    const serial = (await run(["openssl", "x509", "-in", r.path, "-noout", "-serial"])).stdout.trim().split("=")[1];
    const subject = (await run(["grid-proxy-info", "-f", r.path, "-subject"])).stdout.trim();
    expect(subject).toBe(`/DC=org/DC=example/O=Test/CN=Jane Doe/CN=${parseInt(serial, 16)}`);
    expect(parseInt(serial, 16)).toBeGreaterThan(0);
    expect(parseInt(serial, 16)).toBeLessThan(2 ** 31);
    // not-before is back-dated five minutes
    const start = new Date((await run(["openssl", "x509", "-in", r.path, "-noout", "-startdate"])).stdout.trim().split("=")[1]);
    expect(Date.now() - start.getTime()).toBeGreaterThan(4.5 * 60_000);
    expect(Date.now() - start.getTime()).toBeLessThan(6 * 60_000);
    await acceptedByRealTools(r.path, "RFC 3820 compliant impersonation proxy");
  });

  for (const [flag, type] of [["--limited", "RFC 3820 compliant limited proxy"], ["--independent", "RFC 3820 compliant independent proxy"], ["-limited", "RFC 3820 compliant limited proxy"]] as const) {
    gridTest(`${flag}: ${type}`, async () => {
      const r = await init([flag]);
      expect(r.code).toBe(0);
      await acceptedByRealTools(r.path, type);
    });
  }

  gridTest("--bits 4096 and --bits 1024 give keys of that size", async () => {
    for (const bits of ["4096", "1024"]) {
      const r = await init(["--bits", bits]);
      expect(r.code).toBe(0);
      expect((await run(["grid-proxy-info", "-f", r.path, "-strength"])).stdout.trim()).toBe(bits);
      await acceptedByRealTools(r.path, "RFC 3820 compliant impersonation proxy");
    }
  }, 60_000); // finding 4096-bit primes takes a random time, sometimes seconds

  gridTest("every user key encoding grid-proxy-init reads", async () => {
    for (const [name, key] of Object.entries(pki.keys)) {
      const r = await init([], key);
      expect({ name, code: r.code, stderr: r.stderr }).toEqual({ name, code: 0, stderr: "" });
      await acceptedByRealTools(r.path, "RFC 3820 compliant impersonation proxy");
    }
  }, 60_000);

  gridTest("a proxy of a proxy: the chain is kept and the identity stays the user", async () => {
    const first = await init([]);
    const path = out();
    const r = await cvm(["proxy", "init", "--cert", first.path, "--key", first.path, "--out", path, "-q"], { env: cleanEnv() });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    const labels = [...readFileSync(path, "latin1").matchAll(/-----BEGIN ([A-Z ]+)-----/g)].map((m) => m[1]);
    expect(labels).toEqual(["CERTIFICATE", "RSA PRIVATE KEY", "CERTIFICATE", "CERTIFICATE"]);
    expect((await run(["grid-proxy-info", "-f", path, "-identity"])).stdout.trim()).toBe("/DC=org/DC=example/O=Test/CN=Jane Doe");
    await acceptedByRealTools(path, "RFC 3820 compliant impersonation proxy");
  });

  gridTest("a lifetime past the certificate's expiry is capped, with Globus's warning", async () => {
    const short = await makePki({ name: "short", days: 1 });
    try {
      const path = join(short.dir, "proxy");
      const r = await cvm(["proxy", "init", "--cert", short.userCert, "--key", short.keys.plain_pkcs8, "--out", path, "--valid", "48:00"], { env: cleanEnv() });
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/^Warning: your certificate and proxy will expire .+\n which is within the requested lifetime of the proxy\n$/);
      const endCert = (await run(["openssl", "x509", "-in", short.userCert, "-noout", "-enddate"])).stdout.trim();
      const endProxy = (await run(["openssl", "x509", "-in", path, "-noout", "-enddate"])).stdout.trim();
      expect(endProxy).toBe(endCert);
    } finally {
      rmSync(short.dir, { recursive: true, force: true });
    }
  }, 30_000);

  gridTest("defaults: X509_USER_CERT/KEY for the credential, X509_USER_PROXY for the output", async () => {
    const path = out();
    const r = await cvm(["proxy", "init", "-q", "-pwstdin"], {
      stdin: PASS + "\n", env: cleanEnv({ X509_USER_CERT: pki.userCert, X509_USER_KEY: pki.keys.pkcs1_des3, X509_USER_PROXY: path }),
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  gridTest("~/.globus comes from the passwd database, not $HOME (as Globus)", async () => {
    const r = await cvm(["proxy", "init", "--out", out()], { env: cleanEnv({ HOME: pki.dir }) });
    expect(r.code).toBe(1);
    const home = (await run(["getent", "passwd", String(process.getuid!())])).stdout.split(":")[5];
    expect(r.stderr).toBe(`cvm: ${home}/.globus/usercert.pem: no such certificate file\n`);
  });

  gridTest("passphrase asked on the terminal with echo off; Ctrl-C aborts with nothing written", async () => {
    const path = out();
    const onTerminal = (answer: string) => run(["python3", join(import.meta.dir, "helpers", "on_terminal.py"), "phrase for this identity:", answer, "--",
      join(import.meta.dir, "..", "dist", "cvm"), "proxy", "init", "--cert", pki.userCert, "--key", pki.userKey, "--out", path], { env: cleanEnv() });
    const interrupted = await onTerminal("\x03");
    expect(interrupted.code).toBe(130);
    expect(interrupted.stdout).toContain("cvm: interrupted");
    expect(existsSync(path)).toBe(false);
    const r = await onTerminal(PASS);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Enter GRID pass phrase for this identity:");
    expect(r.stdout).not.toContain(PASS);
    expect(r.stdout).toContain("Your proxy is valid until:");
    expect(statSync(path).mode & 0o777).toBe(0o600);
  }, 60_000);

  gridTest("an existing proxy is replaced whole, keeping mode 0600", async () => {
    const a = await init([]);
    const before = readFileSync(a.path, "latin1");
    const r = await cvm(["proxy", "init", "--cert", pki.userCert, "--key", pki.keys.plain_pkcs1, "--out", a.path, "-q"], { env: cleanEnv() });
    expect(r.code).toBe(0);
    expect(readFileSync(a.path, "latin1")).not.toBe(before);
    expect(statSync(a.path).mode & 0o777).toBe(0o600);
    await acceptedByRealTools(a.path, "RFC 3820 compliant impersonation proxy");
  });
});
