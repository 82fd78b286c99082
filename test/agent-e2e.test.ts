// End to end: the user_data that `cvm run --template panda-wn:3 --proxy`
// really sends (read back from the EC2 double with DescribeInstanceAttribute),
// served to the guest by the instance metadata double (IMDSv2), applied by
// `cvm agent` to a guest root in which the pilot command really runs: the
// pilot user holds the proxy, and `cvm proxy info`, run as that user, accepts it.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CVM, cvm } from "./helpers/run";
import { makePki, PASS } from "./helpers/pki";
import { hasTools } from "./helpers/tools";
import { Ec2Double } from "./ec2/server";
import { ImdsDouble } from "./imds/server";
import { guestScript, makeGuestRoot } from "./fixtures/agent/guest";

const ready = process.getuid?.() === 0 && hasTools("openssl");
const PILOT = "/cvmfs/atlas.cern.ch/repo/sw/PandaPilot/pilot/latest/runpilot.sh";
let work: string, env: Record<string, string>, ec2: Ec2Double, root: string;
const metadata: ImdsDouble[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "cvm-agent-e2e-"));
  mkdirSync(join(work, "config"));
  env = { CVM_CONFIG_DIR: join(work, "config"), HOME: work, AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "", AWS_CONFIG_FILE: join(work, "none"), AWS_SHARED_CREDENTIALS_FILE: join(work, "none"), X509_USER_PROXY: join(work, "x509up"), CVM_POLL_MS: "50" };
  ec2 = new Ec2Double({ signatureVersion: 4, accessKeyId: "AK1", secretAccessKey: "S1", instances: 0 }).start();
  const regions = join(work, "config", "regions.ini");
  writeFileSync(regions, `[CERN]\nendpoint = ${ec2.url}\naccess_key = AK1\nsecret_key = S1\ninstance_type = m1.large\n`);
  chmodSync(regions, 0o600);
  root = makeGuestRoot({ name: "e2e", shell: true });
  mkdirSync(join(root, "lib/systemd/system"), { recursive: true });
  writeFileSync(join(root, "lib/systemd/system/sshd.service"), "[Service]\nExecStart=/usr/sbin/sshd -D\n[Install]\nWantedBy=multi-user.target\n");
  // the pilot the template starts (on CernVM-FS in real life): it records who it runs as, its queue and the first line of its proxy
  guestScript(root, PILOT, '#!/bin/sh\nIFS= read -r first < "$X509_USER_PROXY"\nprintf "%s\\n%s\\n%s\\n%s\\n" "$USER" "$PANDA_QUEUE" "$X509_USER_PROXY" "$first" > "$HOME/pilot-started"\n');
});

afterAll(() => {
  ec2?.stop();
  for (const m of metadata) m.stop();
  rmSync(work, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
});

async function userDataOf(id: string): Promise<Buffer> {
  const { EC2Client, DescribeInstanceAttributeCommand } = await import("@aws-sdk/client-ec2");
  const client = new EC2Client({ endpoint: ec2.url, region: "us-east-1", credentials: { accessKeyId: "AK1", secretAccessKey: "S1" } });
  try {
    const out = await client.send(new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: "userData" }));
    return Buffer.from(out.UserData?.Value ?? "", "base64");
  } finally {
    client.destroy();
  }
}

test.skipIf(!ready)("panda-wn:3 --proxy → EC2 → metadata service → cvm agent: the pilot runs as pilot and holds a proxy cvm proxy info accepts", async () => {
  const pki = await makePki({ name: "agent-e2e" });
  try {
    const made = await cvm(["proxy", "init", "-q", "--pwstdin", "--cert", pki.userCert, "--key", pki.userKey, "--valid", "12:00"], { env, stdin: PASS + "\n" });
    expect(made.code).toBe(0);
    const launched = await cvm(["--region", "CERN", "run", ec2.images[0].id, "--template", "panda-wn:3", "--set", "PANDA_QUEUE=CERN-PROD", "--proxy", "--proxy-valid", "1:00", "--json"], { env });
    expect(launched.code).toBe(0);
    const ids: string[] = JSON.parse(launched.stdout).instances.map((i: { id: string }) => i.id);
    expect(ids).toHaveLength(3);
    const sent = await userDataOf(ids[1]);
    expect(sent.toString()).toContain("x509-cert = ");

    const imds = new ImdsDouble({ mode: "v2-required", userData: sent, instanceId: ids[1], hostname: "wn-1.cloud.example.org" }).start();
    metadata.push(imds);
    const r = await cvm(["agent", "--root", root, "--metadata-url", imds.url]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });

    // the pilot account, and the proxy in its place: 0600, owned by pilot, the very bytes cvm run embedded
    expect(readFileSync(join(root, "etc/passwd"), "utf8")).toContain("pilot:x:1000:1000::/home/pilot:/bin/bash\n");
    const proxy = join(root, "tmp/x509up_u1000");
    const st = lstatSync(proxy);
    expect([st.isFile(), st.mode & 0o777, st.uid, st.gid]).toEqual([true, 0o600, 1000, 1000]);
    expect(readFileSync(proxy, "latin1")).toBe(readFileSync(env.X509_USER_PROXY, "latin1"));
    // the pilot command ran as pilot, with the queue and the proxy in its environment
    expect(readFileSync(join(root, "home/pilot/pilot-started"), "utf8")).toBe("pilot\nCERN-PROD\n/tmp/x509up_u1000\n-----BEGIN CERTIFICATE-----\n");
    expect(readFileSync(join(root, "etc/cvmfs/default.local"), "utf8")).toContain("CVMFS_REPOSITORIES=atlas.cern.ch,atlas-condb.cern.ch,grid.cern.ch,sft.cern.ch\n");

    // cvm proxy info, run as the pilot user, accepts the proxy it holds
    const asPilot = (args: string[]) => {
      const p = Bun.spawn({ cmd: [CVM, ...args], uid: 1000, gid: 1000, env: { PATH: "/usr/bin:/bin", X509_USER_PROXY: proxy }, stdout: "pipe", stderr: "pipe" });
      return Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
    };
    const [code, out, err] = await asPilot(["proxy", "info"]);
    expect({ code, err }).toEqual({ code: 0, err: "" });
    expect(out).toMatch(/^type\s*: RFC 3820 compliant impersonation proxy$/m);
    expect(out).toMatch(/^identity\s*: \/DC=org\/DC=example\/O=Test\/CN=Jane Doe$/m);
    const [exists] = await asPilot(["proxy", "info", "--exists", "--valid", "0:30"]);
    expect(exists).toBe(0);
  } finally {
    rmSync(pki.dir, { recursive: true, force: true });
  }
}, 60_000);
