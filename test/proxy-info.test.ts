import { afterAll, beforeAll, describe, expect } from "bun:test";
import { chmodSync, rmSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makePki, PASS, type Pki } from "./helpers/pki";
import { cleanEnv, cvm, run } from "./helpers/run";
import { testWith } from "./helpers/tools";
import { openCredential, unlockKey } from "../src/proxy/credential";
import { makeProxy } from "../src/proxy/make";
import { writeProxyFile } from "../src/proxy/file";

const gridTest = testWith("openssl", "grid-proxy-init", "grid-proxy-info");
let pki: Pki;
let unicode: Pki;
const ref: Record<string, string> = {};

/** A proxy made by the real grid-proxy-init. */
async function gridProxyInit(name: string, args: string[], p: Pki = pki): Promise<string> {
  const path = join(p.dir, `ref-${name}`);
  const r = await run(["grid-proxy-init", "-q", "-pwstdin", "-cert", p.userCert, "-key", p.userKey, "-out", path, ...args], { stdin: PASS + "\n", env: cleanEnv() });
  if (r.code !== 0) throw new Error(`grid-proxy-init ${args.join(" ")}: ${r.stdout}${r.stderr}`);
  return path;
}

const seconds = (hms: string) => hms.split(":").reduce((t, x) => t * 60 + Number(x), 0);

/** Same lines, except that timeleft may differ by a couple of seconds (the two ran at different moments). */
function expectSameInfo(ours: string, theirs: string) {
  const a = ours.trimEnd().split("\n"), b = theirs.trimEnd().split("\n");
  expect(a.length).toBe(b.length);
  a.forEach((line, i) => {
    const m = /^timeleft : (\d+:\d\d:\d\d)(.*)$/.exec(line), n = /^timeleft : (\d+:\d\d:\d\d)(.*)$/.exec(b[i]);
    if (m && n) {
      expect(Math.abs(seconds(m[1]) - seconds(n[1]))).toBeLessThanOrEqual(2);
      expect(m[2]).toBe(n[2]);
    } else expect(line).toBe(b[i]);
  });
}

beforeAll(async () => {
  if (!Bun.which("grid-proxy-init")) return;
  [pki, unicode] = await Promise.all([makePki({ name: "info" }), makePki({ name: "utf8", subject: "/DC=org/DC=example/O=Tëst, Inc./CN=José Müller+UID=jm" })]);
  const variants: Record<string, string[]> = {
    default: ["-valid", "1:30"], limited: ["-limited"], independent: ["-independent"], pathlen: ["-path-length", "2"],
    old: ["-old"], oldlimited: ["-old", "-limited"], draft: ["-draft"], draftlimited: ["-draft", "-limited"],
    long: ["-valid", "25:00"], days: ["-valid", "2000:00"], bits1024: ["-bits", "1024"],
  };
  await Promise.all(Object.entries(variants).map(async ([name, args]) => { ref[name] = await gridProxyInit(name, args); }));
  ref.unicode = await gridProxyInit("unicode", [], unicode);
  ref.chained = join(pki.dir, "ref-chained");
  const r = await run(["grid-proxy-init", "-q", "-cert", ref.default, "-key", ref.default, "-out", ref.chained, "-valid", "1:00"], { env: cleanEnv() });
  if (r.code !== 0) throw new Error(r.stderr);
}, 120_000);
afterAll(() => { if (pki) rmSync(pki.dir, { recursive: true, force: true }); if (unicode) rmSync(unicode.dir, { recursive: true, force: true }); }, 30_000);

describe("cvm proxy info reads what grid-proxy-init makes", () => {
  for (const name of ["default", "limited", "independent", "pathlen", "old", "oldlimited", "draft", "draftlimited", "long", "days", "bits1024", "unicode", "chained"]) {
    gridTest(`${name}: the same seven lines as grid-proxy-info`, async () => {
      const [ours, theirs] = await Promise.all([cvm(["proxy", "info", "-f", ref[name]]), run(["grid-proxy-info", "-f", ref[name]])]);
      expect(ours.code).toBe(0);
      expect(ours.stderr).toBe("");
      expectSameInfo(ours.stdout, theirs.stdout);
    });
  }

  gridTest("single fields print just the value, in the order given", async () => {
    const args = ["-f", ref.default, "-subject", "-timeleft", "-type", "-strength", "-issuer", "-path", "-identity"];
    const [ours, theirs] = await Promise.all([cvm(["proxy", "info", ...args]), run(["grid-proxy-info", ...args])]);
    const a = ours.stdout.split("\n"), b = theirs.stdout.split("\n");
    expect(a.length).toBe(8);
    expect(Math.abs(Number(a[1]) - Number(b[1]))).toBeLessThanOrEqual(2);
    expect([a[0], ...a.slice(2)]).toEqual([b[0], ...b.slice(2)]);
  });

  gridTest("-rfc2253 names, multi-valued RDNs and UTF-8 escapes as OpenSSL prints them", async () => {
    for (const file of [ref.default, ref.unicode]) {
      const args = ["-f", file, "-rfc2253", "-subject", "-issuer", "-identity"];
      const [ours, theirs] = await Promise.all([cvm(["proxy", "info", ...args]), run(["grid-proxy-info", ...args])]);
      expect(ours.stdout).toBe(theirs.stdout);
    }
  });

  gridTest("-exists with -valid / -hours / -bits gives the same exit code as grid-proxy-info", async () => {
    const cases = [[], ["-valid", "1:00"], ["-valid", "2:00"], ["-hours", "1"], ["-bits", "2048"], ["-bits", "4096"]];
    for (const extra of cases) {
      const [ours, theirs] = await Promise.all([
        cvm(["proxy", "info", "-f", ref.default, "-exists", ...extra]),
        run(["grid-proxy-info", "-f", ref.default, "-exists", ...extra]),
      ]);
      expect({ extra, code: ours.code }).toEqual({ extra, code: theirs.code });
      expect(ours.stdout + ours.stderr).toBe("");
    }
  });

  gridTest("an expired proxy: timeleft 0:00:00, -timeleft -1, -exists fails — as grid-proxy-info", async () => {
    const path = join(pki.dir, "expired");
    const cred = openCredential({ certPath: pki.userCert, keyPath: pki.userKey });
    const made = await makeProxy(cred, unlockKey(cred, PASS), { validSeconds: 3600, bits: 1024, policy: "impersonation", now: new Date(Date.now() - 2 * 3600_000) });
    writeProxyFile(path, made.fileText);
    const [ours, theirs] = await Promise.all([cvm(["proxy", "info", "-f", path]), run(["grid-proxy-info", "-f", path])]);
    expect(ours.stdout).toContain("timeleft : 0:00:00\n");
    expectSameInfo(ours.stdout, theirs.stdout);
    expect((await cvm(["proxy", "info", "-f", path, "-timeleft"])).stdout).toBe("-1\n");
    expect((await run(["grid-proxy-info", "-f", path, "-timeleft"])).stdout).toBe("-1\n");
    expect((await cvm(["proxy", "info", "-f", path, "-exists"])).code).toBe(1);
  });

  gridTest("--json carries the same facts", async () => {
    const r = await cvm(["proxy", "info", "-f", ref.pathlen, "--json"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.type).toBe("RFC 3820 compliant impersonation proxy");
    expect(j.policy).toBe("impersonation");
    expect(j.pathLength).toBe(2);
    expect(j.strength).toBe(2048);
    expect(j.identity).toBe("/DC=org/DC=example/O=Test/CN=Jane Doe");
    expect(j.hasKey).toBe(true);
    expect(j.timeleft).toBeGreaterThan(11 * 3600);
    expect(j.chain).toHaveLength(2);
  });
});

describe("cvm proxy info refuses what grid-proxy-info refuses", () => {
  gridTest("a missing file: one line, exit 1; -exists says nothing", async () => {
    const r = await cvm(["proxy", "info", "-f", "/nonexistent/proxy"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("cvm: /nonexistent/proxy: no proxy file there (make one with 'cvm proxy init')\n");
    const e = await cvm(["proxy", "info", "-f", "/nonexistent/proxy", "-exists"]);
    expect(e.code).toBe(1);
    expect(e.stdout + e.stderr).toBe("");
  });

  gridTest("a proxy readable by others", async () => {
    const path = join(pki.dir, "p644");
    writeFileSync(path, readFileSync(ref.default));
    chmodSync(path, 0o644);
    const [ours, theirs] = await Promise.all([cvm(["proxy", "info", "-f", path]), run(["grid-proxy-info", "-f", path])]);
    expect(theirs.code).toBe(1);
    expect(ours.code).toBe(1);
    expect(ours.stderr).toBe(`cvm: ${path}: permissions 0644 are too permissive; a proxy file may be at most 0600\n`);
  });

  gridTest("a proxy whose subject is not the issuer plus one CN", async () => {
    // signed by the user, with proxyCertInfo, but naming someone else
    const d = pki.dir;
    await run(["openssl", "req", "-new", "-newkey", "rsa:1024", "-nodes", "-keyout", join(d, "bad.key"), "-out", join(d, "bad.csr"), "-subj", "/DC=org/DC=example/O=Test/CN=Someone Else/CN=123"]);
    writeFileSync(join(d, "bad.ext"), "proxyCertInfo=critical,language:id-ppl-inheritAll\n");
    const signed = await run(["openssl", "x509", "-req", "-in", join(d, "bad.csr"), "-CA", pki.userCert, "-CAkey", pki.keys.plain_pkcs8, "-set_serial", "123", "-days", "1", "-extfile", join(d, "bad.ext"), "-out", join(d, "bad.pem")]);
    expect(signed.code).toBe(0);
    const path = join(d, "bad-proxy");
    writeFileSync(path, readFileSync(join(d, "bad.pem"), "latin1") + readFileSync(join(d, "bad.key"), "latin1") + readFileSync(pki.userCert, "latin1"));
    chmodSync(path, 0o600);
    const [ours, theirs] = await Promise.all([cvm(["proxy", "info", "-f", path]), run(["grid-proxy-info", "-f", path])]);
    expect(theirs.code).toBe(1);
    expect(ours.code).toBe(1);
    expect(ours.stderr).toBe(`cvm: ${path}: proxy does not comply with the proxy certificate standard: subject is not the issuer name plus one CN entry\n`);
  });

  gridTest("not a certificate file", async () => {
    const path = join(pki.dir, "garbage");
    writeFileSync(path, "hello\n", { mode: 0o600 });
    const r = await cvm(["proxy", "info", "-f", path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`cvm: ${path}: not a PEM certificate (no 'BEGIN CERTIFICATE' block)\n`);
  });
});

describe("cvm proxy destroy", () => {
  gridTest("wipes and removes the proxy; X509_USER_PROXY is the default; a missing file is an error", async () => {
    const path = join(pki.dir, "to-destroy");
    writeFileSync(path, readFileSync(ref.default), { mode: 0o600 });
    const r = await cvm(["proxy", "destroy"], { env: cleanEnv({ X509_USER_PROXY: path }) });
    expect(r.code).toBe(0);
    expect(existsSync(path)).toBe(false);
    const again = await cvm(["proxy", "destroy", "-f", path]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`cvm: ${path}: no proxy file there\n`);
  });
});
