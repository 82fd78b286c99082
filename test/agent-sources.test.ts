// Where user_data comes from: the instance metadata service (the double in
// test/imds speaks IMDSv2 and v1 as the AWS documentation describes them, and
// fails in the ways the agent must survive), OpenNebula/HEPiX context.sh read
// as data, NoCloud and OpenStack config drive directories; and no source at
// all, said within about a second.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { cvm } from "./helpers/run";
import { makeGuestRoot } from "./fixtures/agent/guest";
import { ImdsDouble, type ImdsOptions } from "./imds/server";

const isRoot = process.getuid?.() === 0;
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm2K9u8R0wQf2qU8m1mVb2mQ0pJqVv5N2eX2Jv8yQ2k operator@example.org";
const UD = "[cernvm]\norganisations = atlas\nrepositories = atlas\n";
let work: string;
const servers: ImdsDouble[] = [];
const roots: string[] = [];

beforeAll(() => { work = mkdtempSync(join(tmpdir(), "cvm-agent-sources-")); });
afterAll(() => {
  for (const s of servers) s.stop();
  for (const r of [work, ...roots]) rmSync(r, { recursive: true, force: true });
});

function imds(o: ImdsOptions): ImdsDouble {
  const s = new ImdsDouble(o).start();
  servers.push(s);
  return s;
}
function guest(name: string): string {
  const r = makeGuestRoot({ name });
  roots.push(r);
  return r;
}
const agent = (root: string, ...args: string[]) => cvm(["agent", "--root", root, ...args]);

describe("instance metadata service", () => {
  test("IMDSv2: the token PUT first (with its TTL header), every GET with the token; user-data, instance-id, host name and keys used", async () => {
    const s = imds({ mode: "v2-required", userData: UD, instanceId: "i-0abc", hostname: "ip-10-1-2-3.ec2.internal", publicKeys: [KEY] });
    const root = guest("imds-v2");
    const r = await agent(root, "--metadata-url", s.url);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(s.requests[0]).toMatchObject({ method: "PUT", path: "/latest/api/token", ttl: "300" });
    const token = s.requests.find((q) => q.method === "GET")!.token;
    expect(token).toBeString();
    expect(s.requests.filter((q) => q.method === "GET").every((q) => q.token === token)).toBe(true);
    expect(readFileSync(join(root, "etc/hostname"), "utf8")).toBe("ip-10-1-2-3.ec2.internal\n");
    expect(readFileSync(join(root, "root/.ssh/authorized_keys"), "utf8")).toBe(KEY + "\n");
    expect(readFileSync(join(root, "etc/cvmfs/default.local"), "utf8")).toContain("CVMFS_REPOSITORIES=atlas.cern.ch");
    const status = JSON.parse((await agent(root, "status", "--json")).stdout);
    expect(status).toMatchObject({ status: "done", instance_id: "i-0abc", instance_id_from: "metadata", source: `metadata service ${s.url} (IMDSv2)` });
  });

  for (const [mode, tokenStatus] of [["v1-only", 405], ["v1-only", 404], ["put-forbidden", 403]] as const)
    test(`the token PUT answered ${tokenStatus}: IMDSv1, GETs without a token`, async () => {
      const s = imds({ mode, tokenStatus, userData: UD, instanceId: `i-v1-${tokenStatus}` });
      const r = await agent(guest(`imds-${tokenStatus}`), "--metadata-url", s.url, "--dry-run");
      expect(r.code).toBe(0);
      expect(r.stdout).toStartWith(`source: metadata service ${s.url} (IMDSv1)\ninstance: i-v1-${tokenStatus} (metadata)\n`);
      expect(s.requests.filter((q) => q.method === "GET").every((q) => q.token === undefined)).toBe(true);
    });

  test("a token PUT that is not answered in time: IMDSv1 on the rest of the budget", async () => {
    const s = imds({ mode: "slow-token", delayMs: 10_000, userData: UD });
    const r = await cvm(["-v", "agent", "--root", guest("imds-slow-token"), "--metadata-url", s.url, "--metadata-timeout", "0.6", "--dry-run"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith(`source: metadata service ${s.url} (IMDSv1)\n`);
    expect(r.stderr).toContain(`metadata service ${s.url}: token request no answer within 0.3 s; trying IMDSv1`);
  });

  test("an expired token (401) is renewed once and the run goes on", async () => {
    const s = imds({ mode: "v2-required", tokenUses: 1, userData: UD, instanceId: "i-renew" });
    const r = await agent(guest("imds-renew"), "--metadata-url", s.url, "--dry-run");
    expect(r.code).toBe(0);
    expect(s.requests.filter((q) => q.method === "PUT").length).toBeGreaterThanOrEqual(2);
  });

  test("gzipped user-data from the service; no user-data at all (404) is not an error", async () => {
    const gz = imds({ mode: "v2", userData: gzipSync(UD), instanceId: "i-gz" });
    const a = await agent(guest("imds-gz"), "--metadata-url", gz.url, "--dry-run");
    expect(a.code).toBe(0);
    expect(a.stdout).toContain("+CERNVM_ORGANISATION=atlas");
    const none = imds({ mode: "v2", userData: null, instanceId: "i-none", hostname: "bare" });
    const root = guest("imds-none");
    const b = await agent(root, "--metadata-url", none.url);
    expect([b.code, b.stderr]).toEqual([0, ""]);
    expect(readFileSync(join(root, "etc/hostname"), "utf8")).toBe("bare\n");
  });

  test("run once per instance id: the same instance does nothing, --force runs again, a new instance runs", async () => {
    const s = imds({ mode: "v2", userData: "[cernvm]\nusers = pilot:pilot:\n", instanceId: "i-once" });
    const root = guest("imds-once");
    expect((await agent(root, "--metadata-url", s.url)).code).toBe(0);
    const passwd = readFileSync(join(root, "etc/passwd"), "utf8");
    const again = await agent(root, "--metadata-url", s.url);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/^instance i-once was contextualized already \(.+, done\); --force runs it again\n$/);
    const forced = await agent(root, "--metadata-url", s.url, "--force");
    expect(forced.code).toBe(0);
    expect(readFileSync(join(root, "etc/passwd"), "utf8")).toBe(passwd); // users that exist are kept, not added twice
    const log = readFileSync(join(root, "var/log/cvm-agent.log"), "utf8");
    expect(log.match(/instance i-once: done in/g)?.length).toBe(2);
  });

  test("a service that never answers: no source, said within about a second", async () => {
    const s = imds({ mode: "silent" });
    const t0 = performance.now();
    const r = await agent(guest("imds-silent"), "--metadata-url", s.url);
    const seconds = (performance.now() - t0) / 1000;
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`cvm: no user_data source answered: metadata service ${s.url}: no answer within 1 s\n`);
    expect(seconds).toBeLessThan(4);
  });

  test("a service slow at everything counts as absent; a closed port is unreachable at once", async () => {
    const slow = imds({ mode: "slow", delayMs: 10_000 });
    const a = await agent(guest("imds-slow"), "--metadata-url", slow.url, "--metadata-timeout", "0.4");
    expect(a.stderr).toBe(`cvm: no user_data source answered: metadata service ${slow.url}: no answer within 0.4 s\n`);
    const gone = new ImdsDouble({ mode: "v2" }).start();
    const url = gone.url;
    gone.stop();
    const b = await agent(guest("imds-closed"), "--metadata-url", url);
    expect(b.code).toBe(1);
    expect(b.stderr).toStartWith(`cvm: no user_data source answered: metadata service ${url}: unreachable (`);
  });

  test("without --metadata-url and a root other than /, the EC2 address is never probed", async () => {
    const r = await agent(guest("no-source"));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("cvm: no user_data source answered: no metadata service probed (--root is not /; give --metadata-url)\n");
  });
});

describe("context directories", () => {
  const dir = (name: string, files: Record<string, string>) => {
    const d = join(work, name);
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(join(d, f, ".."), { recursive: true });
      writeFileSync(join(d, f), text);
    }
    return d;
  };

  test.skipIf(!isRoot)("OpenNebula context.sh, read as data: EC2_USER_DATA (base64), a multi-line SSH key, SET_HOSTNAME, VMID; commands in it never run", async () => {
    const marker = join(work, "context-ran");
    const ctx = dir("one", {
      "context.sh": [
        "# Context variables generated by OpenNebula",
        `DISK_ID='1'`,
        `EC2_USER_DATA='${Buffer.from(UD).toString("base64")}'`,
        `SSH_PUBLIC_KEY='${KEY}\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 second@example.org'`,
        `SET_HOSTNAME="wn-42"`,
        `VMID=42`,
        `touch ${marker}`,
        `NOTE="$(touch ${marker})"; export OTHER='it'\\''s'`,
      ].join("\n") + "\n",
    });
    const root = guest("one");
    const r = await agent(root, "--context", ctx);
    expect(r.code).toBe(0);
    expect(r.stderr.split("\n").filter(Boolean)).toEqual([
      `warning: ${ctx}/context.sh line 8: not an assignment; ignored (context.sh is read as data, never run)`,
      `warning: ${ctx}/context.sh line 9: NOTE: '$' or '\`' taken literally; context.sh is never run`,
    ]);
    expect(existsSync(marker)).toBe(false);
    expect(readFileSync(join(root, "etc/hostname"), "utf8")).toBe("wn-42\n");
    expect(readFileSync(join(root, "root/.ssh/authorized_keys"), "utf8")).toBe(`${KEY}\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 second@example.org\n`);
    const status = JSON.parse((await agent(root, "status", "--json")).stdout);
    expect(status).toMatchObject({ instance_id: "one-42", source: `OpenNebula context.sh ${ctx}/context.sh` });
  });

  test("context.sh: USER_DATA with USERDATA_ENCODING=base64; a bad EC2_USER_DATA is one line", async () => {
    const a = await agent(guest("one-b"), "--context", dir("one-b", { "context.sh": `USER_DATA="${Buffer.from(UD).toString("base64")}"\nUSERDATA_ENCODING=base64\n` }), "--dry-run");
    expect(a.code).toBe(0);
    expect(a.stdout).toContain("+CERNVM_ORGANISATION=atlas");
    const bad = dir("one-bad", { "context.sh": "EC2_USER_DATA='!!!'\n" });
    const b = await agent(guest("one-bad"), "--context", bad);
    expect([b.code, b.stderr]).toEqual([1, `cvm: ${bad}/context.sh: EC2_USER_DATA: not valid base64\n`]);
  });

  test("NoCloud (user-data, meta-data) and the OpenStack config drive", async () => {
    const nocloud = dir("nocloud", { "user-data": UD, "meta-data": "instance-id: iid-local01\nlocal-hostname: cloudimg\n" });
    const a = await agent(guest("nocloud"), "--context", nocloud, "--dry-run");
    expect(a.stdout).toStartWith(`source: NoCloud seed ${nocloud}\ninstance: iid-local01 (metadata)\n`);
    expect(a.stdout).toContain("+cloudimg");
    const drive = dir("config-2", { "openstack/latest/user_data": UD, "openstack/latest/meta_data.json": JSON.stringify({ uuid: "8f1c-42", hostname: "vm-7", public_keys: { mykey: KEY } }) });
    const b = await agent(guest("config-2"), "--context", drive, "--dry-run");
    expect(b.stdout).toStartWith(`source: OpenStack config drive ${drive}\ninstance: 8f1c-42 (metadata)\n`);
    expect(b.stdout).toContain(`+${KEY}`);
  });

  test("a directory with none of these is an error naming what was looked for", async () => {
    const empty = dir("empty", { "README": "nothing\n" });
    const r = await agent(guest("empty"), "--context", empty);
    expect([r.code, r.stderr]).toEqual([1, `cvm: --context ${empty}: no context.sh, openstack/latest/user_data, ec2/latest/user-data or user-data there\n`]);
  });
});
