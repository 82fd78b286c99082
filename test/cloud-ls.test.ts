import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cvm } from "./helpers/run";
import { Ec2Double } from "./ec2/server";

let work: string, env: Record<string, string>;
let v4: Ec2Double, v2: Ec2Double;

function writeRegions(text: string, mode = 0o600) {
  const file = join(work, "config", "regions.ini");
  writeFileSync(file, text);
  chmodSync(file, mode);
}

const goodRegions = () => `
[CERN]
endpoint = ${v4.url}
region = cern-1
access_key = AKV4
secret_key = secret-v4
instance_type = m1.large
PANDA_QUEUE = CERN-PROD

[ONE]
endpoint = ${v2.url}
signature_version = 2
access_key = AKV2
secret_key = secret-v2
one_vm_per_call = yes

[DOWN]
endpoint = http://127.0.0.1:1/
access_key = AK
secret_key = SK
`;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "cvm-cloud-"));
  mkdirSync(join(work, "config"));
  // no real AWS credentials or endpoints leak into the tests
  env = { CVM_CONFIG_DIR: join(work, "config"), HOME: work, AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "", AWS_PROFILE: "", AWS_CONFIG_FILE: join(work, "none"), AWS_SHARED_CREDENTIALS_FILE: join(work, "none") };
  v4 = new Ec2Double({ signatureVersion: 4, accessKeyId: "AKV4", secretAccessKey: "secret-v4", region: "cern-1", instances: 3 }).start();
  v2 = new Ec2Double({ signatureVersion: 2, accessKeyId: "AKV2", secretAccessKey: "secret-v2", instances: 5, images: 7, pageLimit: 2 }).start();
  writeRegions(goodRegions());
});

afterAll(() => {
  v4?.stop();
  v2?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("cvm regions / cvm ls against EC2 Query API doubles", () => {
  test("regions lists the built-in EC2 and the configured ones, never the secrets", async () => {
    const r = await cvm(["regions", "-H"], { env });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => l.split("\t"));
    expect(lines[0]).toEqual(["NAME", "ENDPOINT", "SIGNATURE", "REGION", "CREDENTIALS", "DEFAULTS", "VARIABLES"]);
    expect(lines.map((l) => l[0])).toEqual(["NAME", "EC2", "local", "CERN", "ONE", "DOWN"]);
    expect(lines[2]).toEqual(["local", "(qemu here)", "-", "-", "-", "-", "HOST=169.254.0.1"]);
    expect(lines[3]).toEqual(["CERN", v4.url, "v4", "cern-1", "keys:AKV4", "instanceType=m1.large", "PANDA_QUEUE=CERN-PROD"]);
    expect(lines[4]).toEqual(["ONE", v2.url, "v2", "us-east-1", "keys:AKV2", "-", "-"]);
    expect(r.stdout).not.toContain("secret");
  });

  test("ls -i over SigV4: the seed's image columns, -H header", async () => {
    const r = await cvm(["--region", "CERN", "-H", "ls", "-i"], { env });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toBe("AMI\tLOCATION\tSTATE\tVISIBILITY\tARCH\tTYPE");
    expect(lines.slice(1)).toEqual(v4.images.map((i) => [i.id, i.location, "available", i.public ? "public" : "private", "x86_64", "machine"].join("\t")));
  });

  test("ls over SigV2, following NextToken across pages", async () => {
    v2.requests.length = 0;
    const r = await cvm(["ls", "--region", "ONE"], { env });
    expect(r.stderr).toBe("");
    const rows = r.stdout.trim().split("\n").map((l) => l.split("\t"));
    expect(rows.map((x) => x[0])).toEqual(v2.instances.map((i) => i.id));
    expect(rows[0]).toEqual([v2.instances[0].id, v2.instances[0].reservation, "123456789012", "default", "vm0.cloud.example.org", "running", "ami", "m1.large"]);
    expect(v2.requests.filter((q) => q.action === "DescribeInstances").length).toBe(3); // 5 instances, 2 a page
  });

  test("ls -i follows NextToken across pages of images too, asking for 500 a page", async () => {
    v2.requests.length = 0;
    const r = await cvm(["ls", "-i", "--region", "ONE"], { env });
    expect(r.stderr).toBe("");
    expect(r.stdout.trim().split("\n").map((l) => l.split("\t")[0])).toEqual(v2.images.map((i) => i.id));
    const calls = v2.requests.filter((q) => q.action === "DescribeImages");
    expect(calls.length).toBe(4); // 7 images, 2 a page
    expect(calls.map((q) => [q.params.MaxResults, q.params.NextToken ?? null])).toEqual([["500", null], ...calls.slice(1).map((q) => ["500", expect.any(String)])]);
  });

  test("several regions at once are merged with a REGION column; a dead one is named in one line and the rest still print (exit 3)", async () => {
    const r = await cvm(["--region", "CERN", "--region", "ONE", "--region", "DOWN", "ls", "--wide"], { env });
    expect(r.code).toBe(3);
    const rows = r.stdout.trim().split("\n").map((l) => l.split("\t"));
    expect(rows.length).toBe(8);
    expect(new Set(rows.map((x) => x[0]))).toEqual(new Set(["CERN", "ONE"]));
    expect(rows[0].length).toBe(10); // REGION + 8 columns + LAUNCHED
    expect(r.stderr).toBe("cvm: DOWN: endpoint http://127.0.0.1:1/ unreachable (connection refused)\n");
    writeRegions(goodRegions() + `\n[GONE]\nendpoint = http://127.0.0.1:1/gone/\naccess_key = AK\nsecret_key = SK\n`);
    try {
      const both = await cvm(["--region", "DOWN", "--region", "GONE", "ls"], { env });
      expect(both.code).toBe(1); // all failed
      expect(both.stderr.split("\n")).toEqual([
        "cvm: DOWN: endpoint http://127.0.0.1:1/ unreachable (connection refused)",
        "cvm: GONE: endpoint http://127.0.0.1:1/gone/ unreachable (connection refused)",
        "cvm: 2 of 2 region(s) failed", ""]);
    } finally {
      writeRegions(goodRegions());
    }
  }, 60_000);

  test("filters: --state, --tag, --name reach the cloud as EC2 filters", async () => {
    const running = await cvm(["ls", "--region", "ONE", "--state", "stopped"], { env });
    expect(running.stdout.trim().split("\n").map((l) => l.split("\t")[5])).toEqual(["stopped", "stopped"].slice(0, v2.instances.filter((i) => i.state === "stopped").length));
    const tagged = await cvm(["ls", "--region", "CERN", "--tag", "Name=panda-wn-0"], { env });
    expect(tagged.stdout.trim().split("\n")).toHaveLength(1);
    const named = await cvm(["ls", "-i", "--region", "CERN", "--name", "cernvm-4.1"], { env });
    expect(named.stdout.trim().split("\n").map((l) => l.split("\t")[0])).toEqual([v4.images[1].id]);
    const json = JSON.parse((await cvm(["ls", "--region", "CERN", "--json"], { env })).stdout);
    expect(json[0]).toMatchObject({ region: "CERN", id: v4.instances[0].id, tags: { Name: "panda-wn-0" } });
  });

  test("a wrong secret key, a wrong access key, and the wrong signature version each get one line naming the region", async () => {
    writeRegions(`[CERN]\nendpoint = ${v4.url}\nregion = cern-1\naccess_key = AKV4\nsecret_key = wrong\n\n[ONE]\nendpoint = ${v2.url}\naccess_key = AKV2\nsecret_key = secret-v2\n\n[OTHER]\nendpoint = ${v4.url}\nregion = cern-1\naccess_key = NOPE\nsecret_key = x\n`);
    try {
      const bad = await cvm(["ls", "--region", "CERN"], { env });
      expect(bad.code).toBe(1);
      expect(bad.stderr.split("\n")[0]).toMatch(/^cvm: CERN: signature rejected: wrong secret key, or this cloud needs signature_version = 2/);
      const v4on2 = await cvm(["ls", "--region", "ONE"], { env });
      expect(v4on2.stderr.split("\n")[0]).toMatch(/^cvm: ONE: bad credentials \(AuthFailure: this endpoint accepts Signature Version 2/);
      const unknown = await cvm(["ls", "--region", "OTHER"], { env });
      expect(unknown.stderr.split("\n")[0]).toMatch(/^cvm: OTHER: bad credentials \(AuthFailure/);
      expect(bad.stderr + v4on2.stderr).not.toContain("    at ");
    } finally {
      writeRegions(goodRegions());
    }
  }, 60_000);

  test("regions.ini endpoints are checked in full (scheme, host, port 1-65535, brackets), naming file, section, key and value", async () => {
    const file = join(work, "config", "regions.ini");
    const cases: [string, string][] = [
      ["http://h.example.org:999999/", "port '999999' is not a number from 1 to 65535"],
      ["http://[::1", "'[::1' is not host or host:port"],
      ["http://h:0/", "port '0' is not a number from 1 to 65535"],
      ["http://h:/", "port '' is not a number from 1 to 65535"],
      ["ftp://h/", "scheme 'ftp' is not http or https"],
      ["h:8773", "not a URL"],
      ["http:///services/Cloud", "no host"],
      ["http://jane:pw@h/", "a user name or password in the URL (credentials go in profile or access_key/secret_key)"],
      ["https://h/?Action=x", "a query or fragment, which an endpoint cannot have"],
      ["http://exa mple.org/", "not a valid URL"],
    ];
    try {
      for (const [value, why] of cases) {
        writeRegions(`[X]\nendpoint = ${value}\n`);
        const r = await cvm(["regions"], { env });
        expect({ value, code: r.code, line: r.stderr.split("\n")[0] }).toEqual({ value, code: 2, line: `cvm: ${file}: [X] endpoint: '${value}': ${why}; expected http://host[:port][/path] or https://…` });
      }
      writeRegions(`[X]\nendpoint = https://[::1]:8773/services/Cloud\n`);
      expect((await cvm(["regions"], { env })).stdout).toContain("X\thttps://[::1]:8773/services/Cloud\t");
    } finally {
      writeRegions(goodRegions());
    }
  });

  test("regions.ini template variables: UPPERCASE keys; anything that could mean a setting is refused", async () => {
    const file = join(work, "config", "regions.ini");
    const line = async (body: string) => {
      writeRegions(`[X]\nendpoint = http://h/\n${body}\n`);
      const r = await cvm(["regions"], { env });
      return [r.code, r.stderr.split("\n")[0]];
    };
    try {
      expect(await line("REGION = CERN")).toEqual([2, `cvm: ${file}: [X] REGION: ambiguous: UPPERCASE keys are template variables, but REGION is also the setting 'region', and templates get \${REGION} from the region's name; write 'region = …' for the setting, or give the variable another name`]);
      expect(await line("KEY = mykey")).toEqual([2, `cvm: ${file}: [X] KEY: ambiguous: UPPERCASE keys are template variables, but KEY is also the setting 'key', and templates get \${KEY} from key; write 'key = …' for the setting, or give the variable another name`]);
      expect(await line("ENDPOINT = http://other/")).toEqual([2, `cvm: ${file}: [X] ENDPOINT: ambiguous: UPPERCASE keys are template variables, but ENDPOINT is also the setting 'endpoint'; write 'endpoint = …' for the setting, or give the variable another name`]);
      expect((await line("Panda_Queue = Q"))[1]).toStartWith(`cvm: ${file}: [X]: unknown key 'Panda_Queue'; expected one of endpoint, `);
      expect(await line("PANDA_QUEUE =")).toEqual([2, `cvm: ${file}: [X] PANDA_QUEUE: empty value; give the template variable a value or remove the line`]);
      writeRegions(`[X]\nendpoint = http://h/\nPANDA_QUEUE = X-PROD\nCVMFS_HTTP_PROXY = http://squid:3128\n`);
      const ok = JSON.parse((await cvm(["regions", "--json"], { env })).stdout);
      expect(ok.find((r: any) => r.name === "X").variables).toEqual({ PANDA_QUEUE: "X-PROD", CVMFS_HTTP_PROXY: "http://squid:3128" });
    } finally {
      writeRegions(goodRegions());
    }
  });

  test("regions.ini: secrets in a file others can read, unknown keys, bad values, unknown regions", async () => {
    try {
      writeRegions(goodRegions(), 0o644);
      const open = await cvm(["ls", "--region", "CERN"], { env });
      expect(open.code).toBe(1);
      expect(open.stderr).toBe(`cvm: ${join(work, "config", "regions.ini")}: holds secret keys but its permissions are 0644; make it readable by you alone (chmod 600 ${join(work, "config", "regions.ini")})\n`);
      writeRegions(`[X]\nendpoint = http://h/\nsignatur_version = 2\n`);
      const typo = await cvm(["regions"], { env });
      expect(typo.code).toBe(2);
      expect(typo.stderr.split("\n")[0]).toBe(`cvm: ${join(work, "config", "regions.ini")}: [X]: unknown key 'signatur_version'; expected one of endpoint, signature_version, region, profile, access_key, secret_key, instance_type, key, group, kernel, one_vm_per_call, forward, or a template variable in UPPERCASE (PANDA_QUEUE = …)`);
      writeRegions(`[X]\nendpoint = http://h/\nsignature_version = 3\n`);
      expect((await cvm(["regions"], { env })).stderr.split("\n")[0]).toBe(`cvm: ${join(work, "config", "regions.ini")}: [X] signature_version: '3': expected 2 or 4`);
    } finally {
      writeRegions(goodRegions());
    }
    const unknown = await cvm(["ls", "--region", "NOWHERE"], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.split("\n")[0]).toMatch(/^cvm: unknown region 'NOWHERE'; known: EC2, local, CERN, ONE, DOWN/);
  });
});

describe("an EC2 endpoint that labels its XML text/html (moto, anything on Werkzeug/Flask)", () => {
  let moto: Ec2Double;
  beforeAll(() => {
    moto = new Ec2Double({ signatureVersion: 4, accessKeyId: "AKMOTO", secretAccessKey: "secret-moto", instances: 2, contentType: "text/html; charset=utf-8" }).start();
  });
  afterAll(() => moto?.stop());
  const regions = (secret: string) => `[MOTO]\nendpoint = ${moto.url}\naccess_key = AKMOTO\nsecret_key = ${secret}\n`;

  test("its answers are judged by the document: ls and ls -i list what it holds", async () => {
    writeRegions(regions("secret-moto"));
    try {
      const ls = await cvm(["ls", "--region", "MOTO"], { env });
      expect([ls.code, ls.stderr]).toEqual([0, ""]);
      expect(ls.stdout.trim().split("\n").map((l) => l.split("\t")[0])).toEqual(moto.instances.map((i) => i.id));
      const images = await cvm(["ls", "-i", "--region", "MOTO"], { env });
      expect([images.code, images.stderr]).toEqual([0, ""]);
      expect(images.stdout.trim().split("\n").map((l) => l.split("\t")[0])).toEqual(moto.images.map((i) => i.id));
    } finally {
      writeRegions(goodRegions());
    }
  });

  test("its error documents, labelled text/html too, are read as EC2 errors (not as a web page)", async () => {
    writeRegions(regions("wrong"));
    try {
      const bad = await cvm(["ls", "--region", "MOTO"], { env });
      expect(bad.code).toBe(1);
      expect(bad.stderr.split("\n")[0]).toMatch(/^cvm: MOTO: signature rejected: wrong secret key/);
      expect(bad.stderr).not.toContain("web page");
    } finally {
      writeRegions(goodRegions());
    }
  });
});
