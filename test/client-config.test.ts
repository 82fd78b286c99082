// The stock client's configuration files, read as data in upstream's order,
// as `cvm fs config` shows them, and every malformed proxy string named.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseShellConfig } from "../src/cvmfs/client/shell-config";
import { cvm } from "./helpers/run";

let root: string, work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "cvm-client-config-"));
  root = join(work, "etc");
  for (const d of ["default.d", "domain.d", "config.d"]) mkdirSync(join(root, d), { recursive: true });
  // Each key is set at one more level than the one before, so each level's win is visible.
  writeFileSync(join(root, "default.conf"), [
    "# as mount/default.conf",
    "CVMFS_TIMEOUT=1", "CVMFS_TIMEOUT_DIRECT=1", "CVMFS_MAX_RETRIES=1", "CVMFS_BACKOFF_INIT=1", "CVMFS_BACKOFF_MAX=1", "CVMFS_QUOTA_LIMIT=1",
    `CVMFS_SERVER_URL="http://s1.example.org/cvmfs/@fqrn@;http://s2.example.org/cvmfs/@org@"`,
    `if [ "$CVMFS_USE_CDN" = yes ]; then CVMFS_SERVER_URL=x; fi`,
  ].join("\n") + "\n");
  writeFileSync(join(root, "default.d", "50-a.conf"), "CVMFS_TIMEOUT_DIRECT=2\nCVMFS_MAX_RETRIES=2\nCVMFS_BACKOFF_INIT=2\nCVMFS_BACKOFF_MAX=2\nCVMFS_QUOTA_LIMIT=2\n");
  writeFileSync(join(root, "default.d", "60-b.conf"), "CVMFS_MAX_RETRIES=3\nCVMFS_BACKOFF_INIT=3\nCVMFS_BACKOFF_MAX=3\nCVMFS_QUOTA_LIMIT=3\n");
  writeFileSync(join(root, "default.local"), "export CVMFS_BACKOFF_INIT=4\nCVMFS_BACKOFF_MAX=4\nCVMFS_QUOTA_LIMIT=4\nCVMFS_HTTP_PROXY='http://p1:3128|http://p2:3128;DIRECT'\nCVMFS_DEFAULT_DOMAIN=example.org\n");
  writeFileSync(join(root, "domain.d", "example.org.conf"), "CVMFS_BACKOFF_MAX=5\nCVMFS_QUOTA_LIMIT=5\nCVMFS_KEYS_DIR=/etc/cvmfs/keys/example.org\n");
  writeFileSync(join(root, "domain.d", "example.org.local"), "CVMFS_QUOTA_LIMIT=6\n");
  writeFileSync(join(root, "config.d", "atlas.example.org.conf"), `CVMFS_CACHE_BASE="/var/cache/\${CVMFS_DEFAULT_DOMAIN}"  # a reference to an earlier key\nCVMFS_SOMETHING_NEW=kept\n`);
  writeFileSync(join(root, "config.d", "atlas.example.org.local"), "CVMFS_QUOTA_LIMIT=7\n");
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const showConfig = (args: string[], env: Record<string, string> = {}) => cvm(["fs", "config", ...args, "--json"], { env: { CVM_CONFIG_ROOT: root, ...env } });

describe("cvm fs config", () => {
  test("precedence: default.conf < default.d/*.conf < default.local < domain.d .conf < .local < config.d .conf < .local < environment < -o", async () => {
    const r = await showConfig(["atlas", "-o", "CVMFS_FOLLOW_REDIRECTS=yes"], { CVMFS_USE_GEOAPI: "yes" });
    expect(r.stderr).toContain("default.conf:9: skipped, not a KEY=value line");
    const d = JSON.parse(r.stdout);
    expect(d.fqrn).toBe("atlas.example.org"); // short name + CVMFS_DEFAULT_DOMAIN
    const at = (key: string) => d.settings.find((s: { key: string }) => s.key === key);
    expect(at("CVMFS_TIMEOUT")).toMatchObject({ value: "1", source: `${root}/default.conf:2` });
    expect(at("CVMFS_TIMEOUT_DIRECT")).toMatchObject({ value: "2", source: `${root}/default.d/50-a.conf:1` });
    expect(at("CVMFS_MAX_RETRIES")).toMatchObject({ value: "3", source: `${root}/default.d/60-b.conf:1` });
    expect(at("CVMFS_BACKOFF_INIT")).toMatchObject({ value: "4", source: `${root}/default.local:1` });
    expect(at("CVMFS_BACKOFF_MAX")).toMatchObject({ value: "5", source: `${root}/domain.d/example.org.conf:1` });
    expect(at("CVMFS_QUOTA_LIMIT")).toMatchObject({ value: "7", source: `${root}/config.d/atlas.example.org.local:1` });
    expect(at("CVMFS_CACHE_BASE")).toMatchObject({ value: "/var/cache/example.org" });
    expect(at("CVMFS_SERVER_URL").value).toBe("http://s1.example.org/cvmfs/atlas.example.org;http://s2.example.org/cvmfs/atlas");
    expect(at("CVMFS_USE_GEOAPI")).toMatchObject({ value: "yes", source: "environment" });
    expect(at("CVMFS_FOLLOW_REDIRECTS")).toMatchObject({ value: "yes", source: "-o" });
    expect(at("CVMFS_SOMETHING_NEW")).toMatchObject({ value: "kept", known: false });
    expect(at("CVMFS_PROXY_RESET_AFTER")).toMatchObject({ value: "300", source: "built-in default" });
    expect(d.problems).toEqual([]);
  });

  test("the text form names each value's file and line", async () => {
    const r = await cvm(["fs", "config", "atlas.example.org"], { env: { CVM_CONFIG_ROOT: root } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^CVMFS_QUOTA_LIMIT=7 +# ${root}/config\\.d/atlas\\.example\\.org\\.local:1$`, "m"));
  });

  for (const [proxy, message] of [
    ["squid.example.org:3128", "proxy 'squid.example.org:3128' has no scheme; write it as http://squid.example.org:3128"],
    ["http://a:3128;;DIRECT", "group 2 is empty"],
    ["http://a:3128|", "has an empty member"],
    ["http://a:31x8", "the port '31x8' is not a number"],
    ["http://a:99999", "the port 99999 is not between 1 and 65535"],
    ["http://a:3128|DIRECT", "DIRECT cannot be load-balanced with proxies"],
    ["auto", "'auto' (proxy discovery through WPAD/PAC) is not supported yet"],
    ["https://a:3128", "only http:// proxies are supported"],
  ]) {
    test(`a malformed proxy string is named: ${proxy}`, async () => {
      const r = await showConfig(["atlas.example.org", "-o", `CVMFS_HTTP_PROXY=${proxy}`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`cvm: CVMFS_HTTP_PROXY '${proxy}': `);
      expect(r.stderr).toContain(message);
      expect(r.stderr).not.toMatch(/internal error|TypeError/);
      const read = await cvm(["fs", "ls", "atlas.example.org", "-o", `CVMFS_HTTP_PROXY=${proxy}`], { env: { CVM_CONFIG_ROOT: root } });
      expect(read.code).not.toBe(0);
      expect(read.stderr).toContain(message);
    });
  }

  test("missing servers or proxies, bad numbers and flags are named with their origin", async () => {
    let r = await showConfig(["atlas.example.org", "-o", "CVMFS_HTTP_PROXY="]);
    expect(r.stderr).toContain("CVMFS_HTTP_PROXY is not set");
    r = await showConfig(["atlas.example.org", "-o", "CVMFS_TIMEOUT=soon"]);
    expect(r.stderr).toContain("cvm: CVMFS_TIMEOUT='soon' (from -o): expected a whole number of at least 1");
    r = await showConfig(["atlas.example.org", "-o", "CVMFS_SHARED_CACHE=maybe"]);
    expect(r.stderr).toContain("cvm: CVMFS_SHARED_CACHE='maybe' (from -o): expected yes or no");
    r = await cvm(["fs", "config", "atlas.example.org", "-o", "lowercase=1"], { env: { CVM_CONFIG_ROOT: root } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("-o 'lowercase=1': expected KEY=VALUE");
  });
});

describe("sourced-shell syntax, parsed as data", () => {
  const parse = (text: string, env: Record<string, string> = {}) => parseShellConfig(text, "f", (n) => env[n]);
  test("quotes, escapes, references and comments", () => {
    const r = parse([
      `A='single $NOT expanded'`, `B="double $A and \${A}"`, `C=plain#notacomment`, `D=x # a comment`, `E="esc \\" \\$A"`,
      `F=a'b'"c"`, `export G=1`, `H=$UNSET_THING`, `I=$HOME_FROM_ENV/x`,
    ].join("\n"), { HOME_FROM_ENV: "/h" });
    const v = Object.fromEntries(r.assignments.map((a) => [a.key, a.value]));
    expect(v).toEqual({
      A: "single $NOT expanded", B: "double single $NOT expanded and single $NOT expanded", C: "plain#notacomment", D: "x",
      E: 'esc " $A', F: "abc", G: "1", H: "", I: "/h/x",
    });
    expect(r.warnings).toEqual([]);
  });
  test("what needs a shell is skipped with a warning, never run", () => {
    const r = parse("A=$(touch /tmp/cvm-should-not-exist)\nB=`id`\nC='open\nif true; then D=1; fi\nE=two words\n");
    expect(r.assignments).toEqual([]);
    expect(r.warnings).toHaveLength(5);
    expect(r.warnings[0]).toBe("f:1: skipped, A's value is not a plain word or quoted string");
  });
});
