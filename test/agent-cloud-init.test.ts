// Where `cvm agent` once parted from cloud-init on the same input, each
// built from the published formats (OpenNebula's context variables, the
// OpenStack config drive, NoCloud's meta-data, MIME user-data) and checked by
// what lands under --root: keys as nova writes them, user_data as bytes, MIME
// parts cloud-init reads, YAML flow style, a broken context.sh, and the
// choices cloud-init makes between variables.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { cvm } from "./helpers/run";
import { AGENT_OWN, Guests, fingerprint } from "./fixtures/agent/guest";
import { contextDirs } from "./helpers/context-dir";

const isRoot = process.getuid?.() === 0;
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm2K9u8R0wQf2qU8m1mVb2mQ0pJqVv5N2eX2Jv8yQ2k operator@example.org";
const KEY2 = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 second@example.org";
const UD = "[cernvm]\norganisations = atlas\n";
const guests = new Guests();
const work = mkdtempSync(join(tmpdir(), "cvm-agent-cloud-init-"));
afterAll(() => { guests.cleanup(); rmSync(work, { recursive: true, force: true }); });

/** A context directory with these files (bytes or text). */
const dir = contextDirs(work);
const agent = (root: string, ...args: string[]) => cvm(["agent", "--root", root, ...args]);
const read = (root: string, p: string) => readFileSync(join(root, p), "utf8");

describe("public keys", () => {
  test("OpenStack config drive: public_keys values as nova writes them (ending in a newline) are installed", async () => {
    const drive = dir({
      "openstack/latest/meta_data.json": JSON.stringify({ uuid: "83679162-1378-4288-a2d4-70e13ec132aa", hostname: "vm-7", public_keys: { mykey: KEY + "\n", other: KEY2 + "\n" } }),
      "openstack/latest/user_data": UD,
    });
    const root = guests.root("keys-nova");
    const r = await agent(root, "--context", drive);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(read(root, "root/.ssh/authorized_keys")).toBe(`${KEY}\n${KEY2}\n`);
  });

  test("OpenNebula: with both SSH_KEY and SSH_PUBLIC_KEY, SSH_KEY is taken (as cloud-init does); '#' lines are dropped", async () => {
    const ctx = dir({ "context.sh": `SSH_PUBLIC_KEY='${KEY2}'\nSSH_KEY='# the operator\n${KEY}'\nVMID=7\n` });
    const root = guests.root("keys-one");
    const r = await agent(root, "--context", ctx);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(read(root, "root/.ssh/authorized_keys")).toBe(`${KEY}\n`);
  });

  test("NoCloud meta-data public-keys: a list, or one string of lines", async () => {
    for (const [name, meta] of [["list", `instance-id: iid-k1\npublic-keys:\n  - ${KEY}\n  - "${KEY2}"\n`], ["string", `instance-id: iid-k2\npublic-keys: |\n  ${KEY}\n  ${KEY2}\n`]]) {
      const root = guests.root(`keys-nocloud-${name}`);
      const r = await agent(root, "--context", dir({ "meta-data": meta, "user-data": UD }));
      expect([name, r.code, r.stderr]).toEqual([name, 0, ""]);
      expect(read(root, "root/.ssh/authorized_keys")).toBe(`${KEY}\n${KEY2}\n`);
    }
  });
});

describe("user_data is bytes", () => {
  // 0xff is no UTF-8: a decoder would put EF BF BD (U+FFFD) in its place
  const script = Buffer.concat([Buffer.from("#!/bin/sh\nprintf '%s\\n' 'caf"), Buffer.from([0xff, 0xe9]), Buffer.from("' > /root/out\n")]);
  const sources: [string, (root: string) => string[]][] = [
    ["--user-data", (root) => ["--user-data", guests.userData(root, script)]],
    ["context.sh USER_DATA", () => ["--context", dir({ "context.sh": Buffer.concat([Buffer.from('USER_DATA="'), script, Buffer.from('"\n')]) })]],
    ["context.sh base64", () => ["--context", dir({ "context.sh": `USER_DATA='${script.toString("base64")}'\nUSERDATA_ENCODING=base64\n` })]],
  ];
  for (const [name, args] of sources)
    test.skipIf(!isRoot)(`a #! script with bytes that are not UTF-8 is saved and run byte for byte (${name})`, async () => {
      const root = guests.root(`bytes-${name.replace(/\W+/g, "-")}`, { shell: true });
      const r = await agent(root, ...args(root), "--instance-id", "i-bytes");
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(readFileSync(join(root, "var/lib/cvm/agent/instances/i-bytes/scripts/01-after"))).toEqual(script);
      expect(readFileSync(join(root, "root/out"))).toEqual(Buffer.concat([Buffer.from("caf"), Buffer.from([0xff, 0xe9, 0x0a])]));
    });
});

describe("MIME parts cloud-init reads", () => {
  const mime = (parts: { type: string; body: string; encoding?: string }[]) =>
    ["Content-Type: multipart/mixed; boundary=\"==BOUNDARY==\"", "MIME-Version: 1.0", "",
      ...parts.flatMap((p) => ["--==BOUNDARY==", `Content-Type: ${p.type}`, "MIME-Version: 1.0", ...(p.encoding ? [`Content-Transfer-Encoding: ${p.encoding}`] : []), "", p.body]),
      "--==BOUNDARY==--", ""].join("\n");

  test.skipIf(!isRoot)("an application/gzip part holding a script is inflated and run, as cloud-init does", async () => {
    const root = guests.root("mime-gzip", { shell: true });
    const ud = mime([{ type: "application/gzip", encoding: "base64", body: gzipSync("#!/bin/sh\necho gzipped > /root/gz\n").toString("base64") }, { type: "text/amiconfig-user-data", body: UD }]);
    const plan = await guests.apply(root, ud, "--dry-run");
    expect(plan.stdout).toContain("run script 1 from user_data part 1 (application/gzip) line 1 (#!/bin/sh) as root");
    const r = await guests.apply(root, ud);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(read(root, "root/gz")).toBe("gzipped\n");
    expect(read(root, "etc/cernvm/site.conf")).toContain("CERNVM_ORGANISATION=atlas");
  });

  test("a text/x-shellscript part that holds #cloud-config is left to cloud-init with a warning; the rest applies", async () => {
    const root = guests.root("mime-mislabelled");
    const ud = mime([{ type: "text/x-shellscript", body: "#cloud-config\npackages: [htop]\n" }, { type: "text/amiconfig-user-data", body: UD }]);
    const r = await guests.apply(root, ud);
    expect([r.code, r.stderr]).toEqual([0, "warning: user_data part 1 (text/x-shellscript) line 1: holds #cloud-config, not a script; left to cloud-init\n"]);
    expect(read(root, "etc/cernvm/site.conf")).toContain("CERNVM_ORGANISATION=atlas");
    expect(read(root, "var/log/cvm-agent.log")).toContain("note: user_data part 1 (text/x-shellscript): #cloud-config is cloud-init's; left to cloud-init");
  });

  test("a text/x-shellscript part that is neither a script nor cloud-init's is still refused, nothing applied", async () => {
    const root = guests.root("mime-not-script");
    const before = fingerprint(root, AGENT_OWN);
    const r = await guests.apply(root, mime([{ type: "text/x-shellscript", body: "echo hi\n" }, { type: "text/amiconfig-user-data", body: UD }]));
    expect([r.code, r.stderr]).toEqual([1, "cvm: user_data part 1 (text/x-shellscript) line 1: a shell script part must start with #! (nothing applied)\n"]);
    expect(fingerprint(root, AGENT_OWN)).toBe(before);
  });
});

describe("NoCloud meta-data", () => {
  test("YAML flow style ({instance-id: IID2, local-hostname: h2}) gives the instance id and host name", async () => {
    const root = guests.root("nocloud-flow");
    const seed = dir({ "meta-data": "{instance-id: IID2, local-hostname: h2}\n", "user-data": UD });
    const r = await agent(root, "--context", seed);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(read(root, "etc/hostname")).toBe("h2\n");
    expect(JSON.parse((await agent(root, "status", "--json")).stdout)).toMatchObject({ instance_id: "IID2", instance_id_from: "metadata" });
  });

  test("meta-data that is not YAML is one line naming the file", async () => {
    const seed = dir({ "meta-data": "{instance-id: IID3, local-hostname: [h3\n", "user-data": UD });
    const r = await agent(guests.root("nocloud-bad"), "--context", seed, "--dry-run");
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith(`cvm: ${seed}/meta-data: not valid YAML (`);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  });
});

describe("OpenNebula context.sh", () => {
  test("a broken context.sh (a lone ';', which bash and so cloud-init refuse) refuses the run, nothing applied", async () => {
    const ctx = dir({ "context.sh": `SET_HOSTNAME='wn-1'\n;\nSSH_PUBLIC_KEY='${KEY}'\n` });
    const root = guests.root("one-broken");
    const before = fingerprint(root, AGENT_OWN);
    const r = await agent(root, "--context", ctx);
    expect([r.code, r.stderr]).toEqual([1, `cvm: ${ctx}/context.sh line 2: ';' with no command before it: a shell syntax error; the file is broken (nothing applied)\n`]);
    expect(fingerprint(root, AGENT_OWN)).toBe(before);
  });

  test("USERDATA_ENCODING is compared exactly, as OpenNebula and cloud-init do: another value leaves USER_DATA as it is, with a warning", async () => {
    for (const enc of ["BASE64", "plain"]) {
      const ctx = dir({ "context.sh": `USER_DATA='${UD}'\nUSERDATA_ENCODING='${enc}'\n` });
      const r = await agent(guests.root(`one-enc-${enc}`), "--context", ctx, "--dry-run");
      expect([enc, r.code, r.stderr]).toEqual([enc, 0, `warning: ${ctx}/context.sh: USERDATA_ENCODING '${enc}': only 'base64' (exactly) is an encoding; USER_DATA taken as it is\n`]);
      expect(r.stdout).toContain("+CERNVM_ORGANISATION=atlas");
    }
  });

  test("the host name: SET_HOSTNAME, else HOSTNAME, else PUBLIC_IP, IP_PUBLIC, ETH0_IP, an address made ip-a-b-c-d as cloud-init does", async () => {
    const cases: [string, string][] = [
      ["SET_HOSTNAME='wn-1'\nPUBLIC_IP='192.0.2.7'\nETH0_IP='10.0.0.5'\n", "wn-1"],
      ["PUBLIC_IP='192.0.2.7'\nETH0_IP='10.0.0.5'\n", "ip-192-0-2-7"],
      ["SET_HOSTNAME=''\nETH0_IP='10.0.0.5'\nETH0_MAC='02:00:0a:00:00:05'\n", "ip-10-0-0-5"],
    ];
    for (const [context, name] of cases) {
      const root = guests.root("one-hostname");
      const r = await agent(root, "--context", dir({ "context.sh": context }));
      expect([context, r.code, r.stderr]).toEqual([context, 0, ""]);
      expect(read(root, "etc/hostname")).toBe(name + "\n");
    }
  });
});
