// Every failure, however strange the input, ends as one `cvm: <what>: <why>`
// line and a non-zero exit code: never `internal error`, a TypeError, a
// RangeError or a stack frame. One table of inputs across every area.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cvm } from "./helpers/run";

let work: string, storage: string, keys: string, env: Record<string, string>;
let redirector: ReturnType<typeof Bun.serve>;
const FQRN = "errors.example.org";

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cvm-one-line-"));
  storage = join(work, "srv"); keys = join(work, "keys");
  env = { CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state"), CVM_HTTP_TIMEOUT: "1", CVM_CONFIG_ROOT: join(work, "etc") };
  mkdirSync(join(work, "src"));
  writeFileSync(join(work, "src", "a.txt"), "a\n");
  for (const args of [["init", FQRN, "--storage", storage, "--keys", keys], ["sync", FQRN, join(work, "src")]]) {
    const r = await cvm(["publish", ...args], { env });
    if (r.code !== 0) throw new Error(r.stderr);
  }
  writeFileSync(join(work, "zero-cert.der"), Buffer.from([0x30, 0x00]));
  writeFileSync(join(work, "garbage.pem"), "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
  execFileSync("mkfifo", [join(work, "fifo")]);
  const regions = (name: string, endpoint: string) => {
    mkdirSync(join(work, name), { recursive: true });
    writeFileSync(join(work, name, "regions.ini"), `[BAD]\nendpoint = ${endpoint}\naccess_key = AKIA\nsecret_key = x\n`);
    chmodSync(join(work, name, "regions.ini"), 0o600);
  };
  regions("port", "http://127.0.0.1:999999/");
  regions("ipv6", "http://[::1");
  mkdirSync(join(work, "etc"), { recursive: true });
  symlinkSync("/dev/zero", join(work, "etc", "default.local"));
  mkdirSync(join(work, "etc-file-default-d"));
  writeFileSync(join(work, "etc-file-default-d", "default.d"), "");
  mkdirSync(join(work, "etc-loop"));
  symlinkSync("loop-b", join(work, "etc-loop", "default.conf"));
  symlinkSync("default.conf", join(work, "etc-loop", "loop-b"));
  // Redirects to another protocol, for a stratum and for a cloud.
  redirector = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response(null, { status: 302, headers: { Location: "ftp://127.0.0.1/x" } }) });
  mkdirSync(join(work, "redirect"), { recursive: true });
  writeFileSync(join(work, "redirect", "regions.ini"), `[R]\nendpoint = http://127.0.0.1:${redirector.port}/\naccess_key = AKIA\nsecret_key = x\n`);
  chmodSync(join(work, "redirect", "regions.ini"), 0o600);
}, 60_000);

afterAll(() => {
  redirector?.stop(true);
  rmSync(work, { recursive: true, force: true });
}, 60_000);

const fs = (...args: string[]) => ["fs", args[0], storage, "--fqrn", FQRN, "--keys", keys, ...args.slice(1)];

/** [what, argv, extra env] */
const CASES: [string, () => string[], () => Record<string, string>][] = [
  ["DER 30 00 as a certificate", () => ["proxy", "info", "--file", join(work, "zero-cert.der")], () => ({})],
  ["bad base64 in a PEM certificate", () => ["proxy", "info", "--file", join(work, "garbage.pem")], () => ({})],
  ["a FIFO as the proxy file", () => ["proxy", "info", "--file", join(work, "fifo")], () => ({})],
  ["/dev/zero as the proxy file", () => ["proxy", "info", "--file", "/dev/zero"], () => ({})],
  ["a region endpoint with port 999999", () => ["ls"], () => ({ CVM_CONFIG_DIR: join(work, "port") })],
  ["a region endpoint http://[::1", () => ["ls"], () => ({ CVM_CONFIG_DIR: join(work, "ipv6") })],
  ["a cloud that redirects", () => ["--region", "R", "ls"], () => ({ CVM_CONFIG_DIR: join(work, "redirect") })],
  ["a stratum that redirects to ftp", () => ["fs", "ls", `http://127.0.0.1:${redirector.port}/cvmfs/${FQRN}`, "--keys", keys], () => ({})],
  ["a stratum URL nobody listens on", () => ["fs", "ls", `http://127.0.0.1:1/cvmfs/${FQRN}`, "--keys", keys], () => ({})],
  ["a stratum URL that is not one", () => ["fs", "ls", `http://[::1/cvmfs/${FQRN}`, "--keys", keys], () => ({})],
  ["a storage directory that does not exist", () => ["fs", "ls", join(work, "nope", FQRN)], () => ({})],
  ["a path that climbs out of the repository", () => fs("cat", "/../../etc/passwd"), () => ({})],
  ["a file that is not there", () => fs("cat", "/missing"), () => ({})],
  ["cat of a directory", () => fs("cat", "/"), () => ({})],
  ["get onto an existing destination", () => fs("get", "/", work), () => ({})],
  ["a configuration file that is /dev/zero", () => ["fs", "ls", FQRN], () => ({})],
  ["a repository name and no configuration", () => ["fs", "ls", "nothing.example.org"], () => ({ CVM_CONFIG_ROOT: join(work, "no-such-etc") })],
  ["a short name without a default domain", () => ["fs", "config", "atlas"], () => ({ CVM_CONFIG_ROOT: join(work, "no-such-etc") })],
  ["publishing a source that does not exist", () => ["publish", "sync", FQRN, join(work, "no-src")], () => ({})],
  ["publishing the storage into itself", () => ["publish", "sync", FQRN, storage], () => ({})],
  ["a whitelist lifetime no client can read", () => ["publish", "resign", FQRN, "--days", "999999"], () => ({})],
  ["default.d that is a file", () => ["fs", "ls", FQRN], () => ({ CVM_CONFIG_ROOT: join(work, "etc-file-default-d") })],
  ["a configuration file that is a link loop", () => ["fs", "config", FQRN], () => ({ CVM_CONFIG_ROOT: join(work, "etc-loop") })],
  ["a newline and ESC in a proxy value", () => ["fs", "ls", FQRN, "-o", "CVMFS_HTTP_PROXY=foo\nbar\x1b[31m"], () => ({ CVM_CONFIG_ROOT: join(work, "no-such-etc") })],
  ["a fallback proxy that leaves no proxy at all", () => ["fs", "ls", FQRN, "-o", "CVMFS_SERVER_URL=http://127.0.0.1:1/cvmfs/@fqrn@", "-o", "CVMFS_HTTP_PROXY=DIRECT", "-o", "CVMFS_FALLBACK_PROXY=DIRECT"], () => ({ CVM_CONFIG_ROOT: join(work, "no-such-etc") })],
  ["a relative cache base", () => ["fs", "ls", FQRN, "-o", "CVMFS_SERVER_URL=http://127.0.0.1:1/cvmfs/@fqrn@", "-o", "CVMFS_HTTP_PROXY=DIRECT", "-o", "CVMFS_CACHE_BASE=cache"], () => ({ CVM_CONFIG_ROOT: join(work, "no-such-etc") })],
  ["run with a count that is not one", () => ["run", "ami-00000001", "-n", "1e9"], () => ({})],
];

describe("every failure is one line", () => {
  for (const [what, argv, extraEnv] of CASES) {
    test(what, async () => {
      const r = await cvm(argv(), { env: { ...env, ...extraEnv() } });
      expect(r.code).not.toBe(0);
      const lines = r.stderr.split("\n").filter((l) => l && !l.startsWith("warning: ") && !l.startsWith("Run 'cvm"));
      expect({ what, lines }).toEqual({ what, lines: [expect.stringMatching(/^cvm: \S.*: .+/)] });
      expect(r.stderr).not.toMatch(/internal error|TypeError|RangeError|SyntaxError|Invalid Date|^\s+at /m);
      expect(r.stderr).not.toContain("\x1b"); // nothing from the input drives the terminal
    }, 30_000);
  }
});
