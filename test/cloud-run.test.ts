import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { randomBytes } from "node:crypto";
import { cvm } from "./helpers/run";
import { makePki, PASS } from "./helpers/pki";
import { testWith } from "./helpers/tools";
import { Ec2Double } from "./ec2/server";
import { loadRegions } from "../src/cloud/regions";
import { withClient } from "../src/cloud/ec2";

let work: string, env: Record<string, string>;
let cern: Ec2Double, one: Ec2Double, quota: Ec2Double, small: Ec2Double, full: Ec2Double;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "cvm-run-"));
  mkdirSync(join(work, "config"));
  env = { CVM_CONFIG_DIR: join(work, "config"), HOME: work, AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "", AWS_CONFIG_FILE: join(work, "none"), AWS_SHARED_CREDENTIALS_FILE: join(work, "none"), X509_USER_PROXY: join(work, "x509up"), CVM_POLL_MS: "50" };
  cern = new Ec2Double({ signatureVersion: 4, accessKeyId: "AK1", secretAccessKey: "S1", instances: 0 }).start();
  one = new Ec2Double({ signatureVersion: 2, accessKeyId: "AK2", secretAccessKey: "S2", instances: 0, onePerCall: true }).start();
  quota = new Ec2Double({ signatureVersion: 4, accessKeyId: "AK3", secretAccessKey: "S3", instances: 0, instanceLimit: 2 }).start();
  // room for two more running instances: a third is accepted, stays pending for a while, then is terminated
  small = new Ec2Double({ signatureVersion: 4, accessKeyId: "AK4", secretAccessKey: "S4", instances: 0, capacity: 2, pendingPolls: 2, unknownPolls: 1 }).start();
  full = new Ec2Double({ signatureVersion: 4, accessKeyId: "AK5", secretAccessKey: "S5", instances: 0, capacity: 0 }).start();
  const file = join(work, "config", "regions.ini");
  writeFileSync(file, [
    `[CERN]\nendpoint = ${cern.url}\naccess_key = AK1\nsecret_key = S1\ninstance_type = m1.large\nkey = ami\ngroup = default\nPANDA_QUEUE = CERN-PROD`,
    `[ONE]\nendpoint = ${one.url}\nsignature_version = 2\naccess_key = AK2\nsecret_key = S2\none_vm_per_call = yes\nPANDA_QUEUE = ONE-Q`,
    `[QUOTA]\nendpoint = ${quota.url}\naccess_key = AK3\nsecret_key = S3`,
    `[SMALL]\nendpoint = ${small.url}\naccess_key = AK4\nsecret_key = S4`,
    `[FULL]\nendpoint = ${full.url}\naccess_key = AK5\nsecret_key = S5`,
  ].join("\n\n") + "\n");
  chmodSync(file, 0o600);
});

afterAll(() => {
  for (const s of [cern, one, quota, small, full]) s?.stop();
  rmSync(work, { recursive: true, force: true });
});

const runs = (s: Ec2Double) => s.requests.filter((r) => r.action === "RunInstances");
/** What the cloud received as user data, read back through the API (DescribeInstanceAttribute userData), decoded. */
async function userDataOf(regionName: string, id: string): Promise<Buffer> {
  const { DescribeInstanceAttributeCommand } = await import("@aws-sdk/client-ec2");
  const region = loadRegions({ file: join(work, "config", "regions.ini"), env }).find((r) => r.name === regionName)!;
  const out = await withClient(region, (client) => client.send(new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: "userData" })));
  return Buffer.from(out.UserData?.Value ?? "", "base64");
}

describe("cvm run", () => {
  test("--template panda-wn:3: one RunInstances with MinCount = MaxCount = 3, region defaults, the rendered user_data (--set over the region's variable)", async () => {
    const r = await cvm(["--region", "CERN", "-H", "run", cern.images[0].id, "--template", "panda-wn:3", "--set", "PANDA_QUEUE=CERN-T0", "--tag", "project=atlas"], { env });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => l.split("\t"));
    expect(lines[0]).toEqual(["RESERVATION", "OWNER", "GROUP", "INSTANCE", "AMI", "DNS", "STATE", "KEY", "INDEX", "TYPE"]);
    expect(lines.slice(1).map((l) => [l[2], l[4], l[6], l[7], l[8], l[9]])).toEqual([0, 1, 2].map((i) => ["default", cern.images[0].id, "pending", "ami", String(i), "m1.large"]));
    expect(runs(cern)).toHaveLength(1);
    expect(runs(cern)[0].params).toMatchObject({ MinCount: "3", MaxCount: "3", InstanceType: "m1.large", KeyName: "ami", "SecurityGroup.1": "default", "TagSpecification.1.Tag.1.Key": "project" });
    expect(runs(cern)[0].params.ClientToken).toMatch(/^[0-9a-f-]{36}$/);
    const text = (await userDataOf("CERN", lines[1][3])).toString();
    expect(text).toContain("[cernvm]\norganisations = atlas\n");
    expect(text).toContain("environment = PANDA_QUEUE=CERN-T0,PANDA_SITE=CERN-T0\n");
  });

  testWith("openssl")("the README's command works verbatim once the region sets PANDA_QUEUE: cvm --region CERN run ami-00000003 --proxy --template panda-wn:1", async () => {
    const pki = await makePki({ name: "verbatim" });
    try {
      // a proxy valid longer than the 12 hours --proxy wants by default, so none is made on the spot
      expect((await cvm(["proxy", "init", "-q", "--pwstdin", "--valid", "24:00", "--cert", pki.userCert, "--key", pki.userKey], { env, stdin: PASS + "\n" })).code).toBe(0);
      const r = await cvm(["--region", "CERN", "run", "ami-00000003", "--proxy", "--template", "panda-wn:1"], { env });
      expect([r.code, r.stderr]).toEqual([0, ""]);
      const row = r.stdout.trim().split("\n").map((l) => l.split("\t"));
      expect(row.map((l) => [l[4], l[8]])).toEqual([["ami-00000003", "0"]]);
      const text = (await userDataOf("CERN", row[0][3])).toString();
      expect(text).toContain("environment = PANDA_QUEUE=CERN-PROD,PANDA_SITE=CERN-PROD\n");
      expect(Buffer.from(/^x509-cert = (\S+)$/m.exec(text)![1], "base64").toString("latin1")).toBe(readFileSync(env.X509_USER_PROXY, "latin1"));
    } finally {
      rmSync(pki.dir, { recursive: true, force: true });
    }
  }, 60_000);

  test("several regions: each renders the template with its own variables", async () => {
    const r = await cvm(["--region", "CERN", "--region", "ONE", "run", "ami-00000001", "--template", "panda-wn:2", "--json"], { env });
    expect(r.code).toBe(0);
    const { instances } = JSON.parse(r.stdout);
    const queues = await Promise.all(instances.map(async (i: any) => [i.region, /PANDA_QUEUE=([^,]+)/.exec((await userDataOf(i.region, i.id)).toString())![1]]));
    expect(queues).toEqual([["CERN", "CERN-PROD"], ["CERN", "CERN-PROD"], ["ONE", "ONE-Q"], ["ONE", "ONE-Q"]]);
  });

  test("a cloud that starts one VM per call gets N calls with per-call tokens derived from the client token", async () => {
    const before = runs(one).length;
    const r = await cvm(["run", one.images[0].id, "--region", "ONE", "-n", "5", "--client-token", "fleet-42", "--user-data", "/dev/null"], { env });
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n").map((l) => l.split("\t")[8])).toEqual(["0", "1", "2", "3", "4"]);
    const calls = runs(one).slice(before);
    expect(calls.map((q) => q.params.ClientToken).sort()).toEqual(["fleet-42-0", "fleet-42-1", "fleet-42-2", "fleet-42-3", "fleet-42-4"]);
    expect(calls.every((q) => q.params.MaxCount === "1")).toBe(true);
  });

  test("re-running with the same --client-token starts nothing twice", async () => {
    const args = ["--region", "CERN", "run", cern.images[1].id, "-n", "2", "--client-token", "retry-me", "--json"];
    const first = JSON.parse((await cvm(args, { env })).stdout);
    const before = cern.instances.length;
    const second = JSON.parse((await cvm(args, { env })).stdout);
    expect(second.instances.map((i: any) => i.id)).toEqual(first.instances.map((i: any) => i.id));
    expect(cern.instances.length).toBe(before);
  });

  testWith("openssl")("--proxy puts the current proxy into user_data as x509-cert", async () => {
    const pki = await makePki({ name: "runproxy" });
    const made = await cvm(["proxy", "init", "-q", "--pwstdin", "--cert", pki.userCert, "--key", pki.userKey], { env, stdin: PASS + "\n" });
    expect(made.code).toBe(0);
    const r = await cvm(["--region", "CERN", "run", cern.images[0].id, "--template", "batch", "--proxy", "--proxy-valid", "1:00", "--json"], { env });
    expect(r.code).toBe(0);
    const id = JSON.parse(r.stdout).instances[0].id;
    const text = (await userDataOf("CERN", id)).toString();
    const cert = /^x509-cert = (\S+)$/m.exec(text)![1];
    expect(Buffer.from(cert, "base64").toString("latin1")).toBe(readFileSync(env.X509_USER_PROXY, "latin1"));
    rmSync(pki.dir, { recursive: true, force: true });
  }, 60_000);

  test("user_data over 16 KiB is gzipped; too large even gzipped is refused before any call", async () => {
    const big = join(work, "big.txt");
    writeFileSync(big, "[cernvm]\n" + "# padding line for a large user data file\n".repeat(600));
    const r = await cvm(["--region", "CERN", "run", cern.images[0].id, "--user-data", big, "--json"], { env });
    expect(r.code).toBe(0);
    const sent = await userDataOf("CERN", JSON.parse(r.stdout).instances[0].id);
    expect([sent[0], sent[1]]).toEqual([0x1f, 0x8b]);
    expect(gunzipSync(sent).toString()).toBe(readFileSync(big, "utf8"));
    const huge = join(work, "huge.bin");
    writeFileSync(huge, randomBytes(40000).toString("base64"));
    const calls = runs(cern).length;
    const refused = await cvm(["--region", "CERN", "run", cern.images[0].id, "--user-data", huge], { env });
    expect(refused.code).toBe(2);
    expect(refused.stderr.split("\n")[0]).toMatch(/^cvm: user data is 53336 bytes \(\d+ gzipped\); EC2 accepts at most 16384$/);
    expect(runs(cern).length).toBe(calls);
  });

  test("--dry-run prints the request and the user_data and calls nothing", async () => {
    const calls = cern.requests.length;
    const r = await cvm(["--region", "CERN", "run", cern.images[0].id, "--template", "interactive", "--set", "USER_NAME=jane", "--dry-run"], { env });
    expect(r.code).toBe(0);
    expect(cern.requests.length).toBe(calls);
    expect(r.stdout).toContain('"MaxCount": 1');
    expect(r.stdout).toContain("--- user_data for CERN (");
    expect(r.stdout).toContain("users = jane:jane:");
  });

  test("--wait polls until running and prints the instances as they ended up", async () => {
    const r = await cvm(["--region", "CERN", "run", cern.images[0].id, "-n", "2", "--wait"], { env });
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout.trim().split("\n").map((l) => l.split("\t")[6])).toEqual(["running", "running"]);
  });

  test("--wait through real polling: unknown at first, pending for a while, one terminated for lack of capacity: named, exit 3 (partial)", async () => {
    const r = await cvm(["--region", "SMALL", "run", "ami-00000001", "-n", "3", "--wait"], { env });
    const rows = r.stdout.trim().split("\n").map((l) => l.split("\t"));
    expect(rows.map((l) => [l[8], l[6]])).toEqual([["0", "running"], ["1", "running"], ["2", "terminated"]]);
    expect(r.stderr).toBe(`cvm: SMALL: ${rows[2][3]} terminated while starting (Server.InsufficientInstanceCapacity: Insufficient capacity.)\n`);
    expect(r.code).toBe(3);
    // one NotFound (not visible yet), two pending, then booted
    expect(small.requests.filter((q) => q.action === "DescribeInstances")).toHaveLength(4);
  });

  test("--wait when none comes up: each named, a count, exit 1", async () => {
    const r = await cvm(["--region", "FULL", "run", "ami-00000001", "-n", "2", "--wait", "--json"], { env });
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.instances.map((i: any) => [i.state, i.reason])).toEqual([["terminated", "Server.InsufficientInstanceCapacity: Insufficient capacity."], ["terminated", "Server.InsufficientInstanceCapacity: Insufficient capacity."]]);
    expect(r.stderr.split("\n")).toEqual([
      ...out.instances.map((i: any) => `cvm: FULL: ${i.id} terminated while starting (Server.InsufficientInstanceCapacity: Insufficient capacity.)`),
      "cvm: 2 of 2 instance(s) not running", ""]);
  });

  test("cloud errors are one line with the region: unknown image, quota", async () => {
    const bad = await cvm(["--region", "CERN", "run", "ami-00000000"], { env });
    expect(bad.code).toBe(1);
    expect(bad.stderr.split("\n")[0]).toMatch(/^cvm: CERN: unknown image \(InvalidAMIID\.NotFound/);
    const full = await cvm(["--region", "QUOTA", "run", quota.images[0].id, "-n", "5"], { env });
    expect(full.code).toBe(1);
    expect(full.stderr.split("\n")[0]).toMatch(/^cvm: QUOTA: quota exceeded \(InstanceLimitExceeded/);
  });

  test("usage errors: unknown template variable, bad image id, --template with --user-data", async () => {
    const quotaCalls = runs(quota).length;
    const missing = await cvm(["--region", "QUOTA", "run", quota.images[0].id, "--template", "panda-wn"], { env });
    expect([missing.code, missing.stderr.split("\n")[0]]).toEqual([2, `cvm: template panda-wn: no value for \${PANDA_QUEUE} in region QUOTA; give --set PANDA_QUEUE=VALUE, or PANDA_QUEUE = VALUE in [QUOTA] of ${join(work, "config", "regions.ini")}`]);
    expect(runs(quota)).toHaveLength(quotaCalls); // refused before any call
    expect((await cvm(["run", "not-an-image!"], { env })).code).toBe(2);
    const endless = await cvm(["--region", "CERN", "run", cern.images[0].id, "--user-data", "/dev/zero"], { env });
    expect([endless.code, endless.stderr]).toEqual([2, "cvm: --user-data /dev/zero: more than 4194304 bytes; user data must fit in 16384 bytes gzipped\nRun 'cvm run --help' for usage.\n"]);
    expect((await cvm(["run", "ami-1", "--template", "batch", "--user-data", "/dev/null"], { env })).stderr).toStartWith("cvm: --template and --user-data exclude each other");
  });
});

describe("cvm terminate and cvm template", () => {
  test("terminate asks for confirmation (refuses without a terminal), -y terminates, --all-from takes a reservation", async () => {
    const started = JSON.parse((await cvm(["--region", "CERN", "run", cern.images[0].id, "-n", "2", "--json"], { env })).stdout).instances;
    const ask = await cvm(["--region", "CERN", "terminate", started[0].id], { env });
    expect(ask.code).toBe(2);
    expect(ask.stderr.split("\n")[0]).toBe("cvm: refusing to terminate 1 instance(s) without confirmation; add -y");
    const r = await cvm(["--region", "CERN", "terminate", "-y", "--all-from", started[0].reservation], { env });
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n").sort()).toEqual(started.map((i: any) => `${i.id}\tpending\tshutting-down`).sort());
    const unknown = await cvm(["--region", "CERN", "terminate", "-y", "i-deadbeef"], { env });
    expect(unknown.stderr.split("\n")[0]).toMatch(/^cvm: CERN: InvalidInstanceID\.NotFound/);
  });

  test("template ls / show / render", async () => {
    const ls = await cvm(["template", "ls"], { env });
    expect(ls.stdout.split("\n").map((l) => l.split("\t")[0]).filter(Boolean)).toEqual(["batch", "interactive", "panda-wn"]);
    expect((await cvm(["template", "show", "batch"], { env })).stdout).toContain("${BATCH_COMMAND:-/bin/true}");
    expect((await cvm(["template", "render", "batch", "--set", "BATCH_COMMAND=/opt/run.sh"], { env })).stdout).toContain("contextualization_command = batch:/opt/run.sh\n");
    expect((await cvm(["--region", "ONE", "template", "render", "panda-wn"], { env })).stdout).toContain("environment = PANDA_QUEUE=ONE-Q,PANDA_SITE=ONE-Q\n");
    expect((await cvm(["template", "render", "panda-wn"], { env })).stderr.split("\n")[0]).toBe("cvm: template panda-wn: no value for ${PANDA_QUEUE}; give --set PANDA_QUEUE=VALUE");
    mkdirSync(join(work, "config", "templates"), { recursive: true });
    writeFileSync(join(work, "config", "templates", "site.ini"), "# uses region defaults\n[cernvm]\nenvironment = CLOUD=${REGION},FLAVOUR=${INSTANCE_TYPE}\n");
    const dry = await cvm(["--region", "CERN", "run", cern.images[0].id, "--template", "site", "--dry-run"], { env });
    expect(dry.stdout).toContain("environment = CLOUD=CERN,FLAVOUR=m1.large\n");
    writeFileSync(join(work, "config", "templates", "batch.ini"), "# site batch\n[cernvm]\nrepositories = cms\n");
    expect((await cvm(["template", "render", "batch"], { env })).stdout).toBe("[cernvm]\nrepositories = cms\n");
  });
});
