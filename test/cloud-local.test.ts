// The built-in region `local`: appliances registered as images, guests booted with qemu (TCG) in the background,
// user_data from cvm's metadata service at 169.254.169.254 or from a context disk, ls with the guests' real states,
// terminate by ACPI, the refusals. Every guest a test starts is killed in afterAll.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makePki, PASS, type Pki } from "./helpers/pki";
import { cleanEnv, cvm, run } from "./helpers/run";
import { publishRepository, serveStorage, type Published, type Served } from "./helpers/stratum";
import { hasTools } from "./helpers/tools";

const KERNEL = existsSync("/boot") && readdirSync("/boot").some((f) => f.startsWith("vmlinuz-"));
if (!KERNEL && process.env.CVM_REQUIRE_TOOLS === "1") throw new Error("required: a kernel in /boot (linux-image-amd64)");
const CAN_BUILD = KERNEL && hasTools("busybox", "zstd", "cpio", "xorriso");
const CAN_BOOT = CAN_BUILD && hasTools("qemu-system-x86_64") && process.getuid?.() === 0;

const FQRN = "pilot.cvm.test";
const BOOT_MS = 240_000; // TCG on a loaded 2-core machine; a guest is ready in 15-25 s
let work: string, data: string, env: Record<string, string | undefined>, ami: string;
let repo: Published, served: Served, pki: Pki;

/** Every qemu of the local region under `data` (pid file checked against /proc), killed. */
function killGuests(): void {
  const dir = join(data, "local", "instances");
  if (!existsSync(dir)) return;
  for (const id of readdirSync(dir)) {
    const pidFile = join(dir, id, "qemu.pid");
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, "utf8"));
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(join(dir, id))) process.kill(pid, "SIGKILL");
    } catch { /* already gone */ }
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cvm-local-test-"));
  data = join(work, "data");
  env = cleanEnv({ CVM_DATA_DIR: data, CVM_CONFIG_DIR: join(work, "config"), CVM_QEMU_ACCEL: undefined, X509_USER_PROXY: join(work, "proxy"), CVM_LOCAL_STOP_SECONDS: "60" });
  if (!CAN_BUILD) return;
  const built = await cvm(["appliance", "build", "-f", "initrd", "-o", join(work, "appliance"), "--cmdline", "quiet"]);
  if (built.code !== 0) throw new Error(`appliance build: ${built.stderr}`);
  const reg = await cvm(["appliance", "register", join(work, "appliance"), "--name", "worker"], { env });
  if (reg.code !== 0) throw new Error(`appliance register: ${reg.stderr}`);
  ami = reg.stdout.split("\t")[0];

  // the pilot proves it holds its proxy: `cvm proxy info` as the pilot user, in the guest
  const src = join(work, "pilot-src");
  mkdirSync(src);
  writeFileSync(join(src, "pilot.sh"), '#!/bin/sh\necho "pilot: running as $(id -un) on $(hostname)"\ncvm proxy info --identity | sed "s/^/pilot: proxy of /"\n');
  chmodSync(join(src, "pilot.sh"), 0o755);
  repo = await publishRepository(work, FQRN, src);
  served = await serveStorage(repo.storage);
  const key64 = Buffer.from(readFileSync(join(repo.keys, `${FQRN}.pub`))).toString("base64");
  mkdirSync(join(work, "config", "templates"), { recursive: true });
  writeFileSync(join(work, "config", "regions.ini"), `[local]\nforward = ${served.port}\nREPO = ${FQRN}\nREPO_PORT = ${served.port}\nREPO_KEY = ${key64}\n`);
  writeFileSync(join(work, "config", "templates", "fleet-wn.ini"), [
    "# A worker node of the local fleet: the pilot from a repository this machine serves, holding the proxy",
    "[cernvm]", "users = pilot:pilot:", "x509-user = pilot",
    "extra_repositories = ${REPO}|http://${HOST}:${REPO_PORT}/cvmfs/${REPO}|${REPO_KEY}",
    "contextualization_command = pilot:/cvmfs/${REPO}/pilot.sh",
    "[cvmfs]", "CVMFS_HTTP_PROXY = DIRECT", "CVMFS_TIMEOUT = 5", "CVMFS_TIMEOUT_DIRECT = 5", "",
  ].join("\n"));
  pki = await makePki({ name: "local", subject: "/DC=org/DC=example/O=Test/CN=Fleet Pilot" });
  const proxy = await cvm(["proxy", "init", "--pwstdin", "--cert", pki.userCert, "--key", pki.userKey, "--out", join(work, "proxy"), "--valid", "24:00"], { env, stdin: `${PASS}\n` });
  if (proxy.code !== 0) throw new Error(`proxy init: ${proxy.stderr}`);
}, 300_000);

afterAll(async () => {
  if (data) killGuests();
  await served?.stop();
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
}, 60_000);

const local = (args: string[], extra: Record<string, string | undefined> = {}) => cvm(["--region", "local", ...args], { env: { ...env, ...extra } });
const consoleOf = async (id: string) => (await cvm(["console", id], { env })).stdout;
const lsRows = async () => JSON.parse((await local(["ls", "--json"])).stdout) as { id: string; reservation: string; state: string; reason: string; dns: string; index: number; type: string; image: string }[];

describe.skipIf(!CAN_BUILD)("the local region's images and its metadata service", () => {
  test("ls -i lists the registered appliance as an ami and its kernel as an aki", async () => {
    const r = await local(["-H", "ls", "-i"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => l.split("\t"));
    expect(lines[0]).toEqual(["AMI", "LOCATION", "STATE", "VISIBILITY", "ARCH", "TYPE"]);
    expect(lines.slice(1).map((l) => [l[0], l[2], l[5]])).toEqual([[ami, "available", "machine"], [ami.replace("ami-", "aki-"), "available", "kernel"]]);
    expect(lines[1][1]).toBe(join(data, "local", "images", ami, "initrd.img"));
  });

  test("IMDS on one connection: IMDSv2 token and GETs, IMDSv1, a bad token 401, a bad TTL 400, a forwarded PUT 403, 404; a token outlives its connection", async () => {
    const dir = join(work, "imds-instance");
    mkdirSync(dir);
    writeFileSync(join(dir, "imds.key"), "k".repeat(32));
    writeFileSync(join(dir, "user-data"), "[cernvm]\nusers = a:b:\n");
    writeFileSync(join(dir, "instance.json"), JSON.stringify({ id: "i-0123456789abcdef0", reservation: "r-0123456789abcdef0", image: "ami-0123456789abcdef0", type: "m1.small", index: 1, address: "169.254.1.11", key: "" }));
    const req = (method: string, path: string, headers: Record<string, string> = {}) =>
      `${method} ${path} HTTP/1.1\r\nHost: 169.254.169.254\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`;
    const answers = (out: string) => [...out.matchAll(/HTTP\/1\.1 (\d+) [^\r]*\r\n(?:[^\r]+\r\n)*?Content-Length: (\d+)\r\n(?:[^\r]+\r\n)*\r\n/g)].map((m) => ({ status: Number(m[1]), body: out.slice(m.index! + m[0].length, m.index! + m[0].length + Number(m[2])) }));
    const first = await cvm(["appliance", "imds", dir], { stdin: req("PUT", "/latest/api/token", { "X-aws-ec2-metadata-token-ttl-seconds": "21600" }) });
    const token = answers(first.stdout)[0].body;
    expect([answers(first.stdout)[0].status, token.length > 20]).toEqual([200, true]);
    const r = await cvm(["appliance", "imds", dir], { stdin: [
      req("GET", "/latest/meta-data/instance-id", { "X-aws-ec2-metadata-token": token }),
      req("GET", "/latest/meta-data/ami-launch-index"), req("GET", "/latest/meta-data/local-ipv4"), req("GET", "/latest/user-data"),
      req("GET", "/latest/meta-data/instance-id", { "X-aws-ec2-metadata-token": "1.bogus" }),
      req("PUT", "/latest/api/token", { "X-aws-ec2-metadata-token-ttl-seconds": "0" }),
      req("PUT", "/latest/api/token", { "X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "10.1.1.1" }),
      req("GET", "/latest/meta-data/public-keys/0/openssh-key"), req("GET", "/latest/meta-data/reservation-id", { Connection: "close" }),
    ].join("") });
    expect(r.code).toBe(0);
    expect(answers(r.stdout)).toEqual([
      { status: 200, body: "i-0123456789abcdef0" }, { status: 200, body: "1" }, { status: 200, body: "169.254.1.11" }, { status: 200, body: "[cernvm]\nusers = a:b:\n" },
      { status: 401, body: "" }, { status: 400, body: "" }, { status: 403, body: "" }, { status: 404, body: "" }, { status: 200, body: "r-0123456789abcdef0" },
    ]);
  });
});

describe.skipIf(!CAN_BOOT)("guests of the local region (qemu, TCG)", () => {
  test("a fleet of two by IMDS and one by context disk, --template fleet-wn:2 --proxy --wait: the pilots ran from /cvmfs holding the proxy; ls; terminate by ACPI", async () => {
    const [fleet, disk] = await Promise.all([
      local(["run", ami, "--template", "fleet-wn:2", "--proxy", "--wait", "--json"]),
      local(["run", ami, "--template", "fleet-wn", "--proxy", "--wait", "--json", "--context", "disk", "-t", "t1.micro"]),
    ]);
    const ids: string[] = [];
    try {
      expect([fleet.code, fleet.stderr]).toEqual([0, ""]);
      expect([disk.code, disk.stderr]).toEqual([0, ""]);
      const two = JSON.parse(fleet.stdout).instances as { id: string; reservation: string; index: number; state: string; type: string }[];
      const one = JSON.parse(disk.stdout).instances as { id: string; state: string; type: string }[];
      ids.push(...two.map((i) => i.id), ...one.map((i) => i.id));
      expect(two.map((i) => [i.index, i.state, i.type])).toEqual([[0, "running", "m1.small"], [1, "running", "m1.small"]]);
      expect(two[0].reservation).toBe(two[1].reservation);
      expect(one.map((i) => [i.state, i.type])).toEqual([["running", "t1.micro"]]);
      for (const id of ids) {
        const text = await consoleOf(id);
        expect(text).toContain(`[pilot.sh] pilot: running as pilot on ${id}\n`);
        expect(text).toContain("[pilot.sh] pilot: proxy of /DC=org/DC=example/O=Test/CN=Fleet Pilot\n");
        expect(text).toMatch(/cvm-boot: ready at [\d.]+ s: contextualized/);
        expect(text).toMatch(id === one[0].id ? /context disk \/dev\/sr0 \(iso9660, label CONTEXT\): read/ : /source: metadata service http:\/\/169\.254\.169\.254 \(IMDSv2\)/);
      }
      const rows = await lsRows();
      expect(rows.filter((r) => ids.includes(r.id)).map((r) => r.state)).toEqual(["running", "running", "running"]);
      expect(new Set(rows.map((r) => r.dns)).size).toBe(rows.length); // an address each
      const table = await local(["-H", "ls"]);
      expect(table.stdout.split("\n")[0]).toBe("ID\tRID\tOWNER\tGROUP\tDNS\tSTATE\tKEY\tTYPE");

      const t = await local(["terminate", "-y", "--all-from", two[0].reservation]);
      expect(t.code).toBe(0);
      expect(t.stdout.trim().split("\n").sort()).toEqual(two.map((i) => `${i.id}\trunning\tterminated`).sort());
      for (const i of two) {
        expect(await consoleOf(i.id)).toContain("reboot: Power down"); // ACPI: the guest powered itself off
        expect(existsSync(join(data, "local", "instances", i.id, "user-data"))).toBe(false); // it held the proxy
      }
      expect((await lsRows()).filter((r) => two.some((i) => i.id === r.id)).map((r) => r.state)).toEqual(["terminated", "terminated"]);
    } finally {
      killGuests();
    }
  }, 2 * BOOT_MS);

  test("--wait on a guest whose contextualization fails: exit 1 and the failed step's line; ls says running with the reason", async () => {
    const ud = join(work, "dead-repo.ini");
    writeFileSync(ud, `[cernvm]\nextra_repositories = ${FQRN}|http://169.254.0.1:9/cvmfs/${FQRN}|${Buffer.from(readFileSync(join(repo.keys, `${FQRN}.pub`))).toString("base64")}\n[cvmfs]\nCVMFS_HTTP_PROXY = DIRECT\nCVMFS_TIMEOUT = 2\nCVMFS_TIMEOUT_DIRECT = 2\n`);
    const r = await local(["run", ami, "--user-data", ud, "--wait", "--json"]);
    try {
      const [{ id }] = JSON.parse(r.stdout).instances as { id: string }[];
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^cvm: local: ${id}: step mount ${FQRN.replace(/\./g, "\\.")}: failed: .* \\(failed at [\\d.]+ s: the agent exited 1 .*\\)\n$`));
      const row = (await lsRows()).find((x) => x.id === id)!;
      expect([row.state, row.reason]).toEqual(["running", expect.stringMatching(/^contextualization failed: step mount /)]);
    } finally {
      killGuests();
    }
  }, BOOT_MS);

  test("a guest whose qemu is killed is shown as died, never running; terminate then cleans it up", async () => {
    const r = await local(["run", ami, "--json"]);
    expect(r.code).toBe(0);
    const [{ id, state }] = JSON.parse(r.stdout).instances as { id: string; state: string }[];
    try {
      expect(state).toBe("pending");
      const pid = Number(readFileSync(join(data, "local", "instances", id, "qemu.pid"), "utf8"));
      process.kill(pid, "SIGKILL");
      const deadline = Date.now() + 30_000;
      let row = (await lsRows()).find((x) => x.id === id)!;
      while (row.state !== "died" && Date.now() < deadline) {
        await Bun.sleep(100);
        row = (await lsRows()).find((x) => x.id === id)!;
      }
      expect([row.state, row.reason]).toEqual(["died", "qemu ended without the guest powering off (killed or crashed)"]);
      const t = await local(["terminate", "-y", id]);
      expect([t.code, t.stdout]).toEqual([0, `${id}\tdied\tterminated\n`]);
    } finally {
      killGuests();
    }
  }, 60_000);
});

describe.skipIf(!CAN_BUILD)("what the local region refuses, in one line, starting nothing", () => {
  test("more RAM than is free, no qemu, an unknown image or type, --context elsewhere", async () => {
    const before = existsSync(join(data, "local", "instances")) ? readdirSync(join(data, "local", "instances")).length : 0;
    const cases: [string[], Record<string, string>, number, RegExp][] = [
      [["run", ami, "-t", "m1.xlarge", "-n", "100000"], {}, 1, /^cvm: local: 100000 × m1\.xlarge need 409600000 MiB of RAM; this machine has \d+ MiB available \(keeping 256 MiB for itself\)\n$/],
      [["run", ami], { PATH: join(work, "empty") }, 1, /^cvm: local: qemu-system-x86_64 not found; the local region boots guests with it \(apt-get install qemu-system-x86\)\n$/],
      [["run", "ami-00000000000000000"], {}, 1, /^cvm: local: image ami-00000000000000000: not registered \(cvm appliance register DIR; cvm --region local ls -i lists them\)\n$/],
      [["run", ami, "-t", "c5.huge"], {}, 1, /^cvm: local: instance type 'c5\.huge': the local region has t1\.micro \(1 CPU, 384 MiB\), m1\.small/],
      [["run", ami, "--context", "floppy"], {}, 2, /^cvm: --context 'floppy': expected imds or disk\n/],
      [["terminate", "-y", "i-00000000000000000"], {}, 1, /^cvm: instance i-00000000000000000: no such instance in the local region\n$/],
    ];
    for (const [args, extra, code, line] of cases) {
      const r = await local(args, extra);
      expect([r.code, r.stderr]).toEqual([code, expect.stringMatching(line)]);
    }
    const ec2 = await cvm(["run", ami, "--context", "disk"], { env });
    expect([ec2.code, ec2.stderr.split("\n")[0]]).toEqual([2, "cvm: --context is for the local region (--region local)"]);
    expect(existsSync(join(data, "local", "instances")) ? readdirSync(join(data, "local", "instances")).length : 0).toBe(before);
  });
});
