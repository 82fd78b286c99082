// What the agent keeps and tells: --dry-run changes nothing (the whole root
// hashed before and after), run-once and --force, `status` with per-step
// timings and cloud-init's exit codes, the log (timed steps, never a secret),
// `validate` with every problem and its line, and `install`'s unit.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cvm, run } from "./helpers/run";
import { hasTools } from "./helpers/tools";
import { Guests, fingerprint, guestScript } from "./fixtures/agent/guest";

const isRoot = process.getuid?.() === 0;
const SEED = readFileSync(join(import.meta.dir, "fixtures/agent/seed-example.ini"), "utf8");
const guests = new Guests();
afterAll(() => guests.cleanup());
const guest = (name: string, shell = false) => guests.root(name, { shell });
const userData = (root: string, data: string | Uint8Array) => guests.userData(root, data);

test("--dry-run prints the plan and changes nothing: the whole root hashes the same before and after", async () => {
  const root = guest("dry", true);
  const ud = userData(root, SEED.replace("[cernvm]", "[cernvm]\nx509-user = cms") + "\n[hostname]\nhostname = wn-7\n");
  const before = fingerprint(root);
  const r = await cvm(["agent", "--root", root, "--user-data", ud, "--dry-run"]);
  expect(r.code).toBe(0);
  expect(fingerprint(root)).toBe(before);
  for (const step of ["hostname", "cvmfs", "users", "environment", "site", "services", "commands"]) expect(r.stdout).toContain(`step ${step}:\n`);
  expect(r.stdout).toContain("  write /etc/hostname (0644 0:0, new)\n    --- /dev/null\n    +++ /etc/hostname\n    @@ -0,0 +1,1 @@\n    +wn-7\n");
});

test("--dry-run shows an edit as a diff against the file as it is", async () => {
  const root = guest("dry-diff");
  writeFileSync(join(root, "etc/environment"), "LANG=C.UTF-8\nA=old\nZ=1\n");
  const r = await cvm(["agent", "--root", root, "--user-data", userData(root, "[cernvm]\nenvironment = A=new\n"), "--dry-run"]);
  expect(r.stdout).toContain("  write /etc/environment (0644 0:0)\n    --- /etc/environment\n    +++ /etc/environment\n    @@ -1,3 +1,3 @@\n     LANG=C.UTF-8\n    -A=old\n    +A=new\n     Z=1\n");
});

describe.skipIf(!isRoot)("a run, its status and its log", () => {
  const root = guest("state", true);
  guestScript(root, "/opt/cms/setup.sh", "#!/bin/sh\nexit 0\n");
  const secret = "Pa55-w0rd;x";
  let ud: string;

  test("status before any run: not run, exit 0", async () => {
    const s = await cvm(["agent", "status", "--root", root]);
    expect([s.code, s.stdout]).toEqual([0, "status: not run\n"]);
  });

  test("the seed example applied: status lists every step with its time; exit 2 as cloud-init's 'done with warnings'", async () => {
    ud = userData(root, SEED.replace("users = cms:cms:", `users = cms:cms:,admin:cms:${secret}`));
    const r = await cvm(["agent", "--root", root, "--user-data", ud, "--instance-id", "i-state"]);
    expect(r.code).toBe(0);
    const s = await cvm(["agent", "status", "--root", root]);
    expect(s.code).toBe(2); // the sshd unit is not in this root: a warning
    const lines = s.stdout.split("\n");
    expect(lines.slice(0, 3)).toEqual(["status: done (with warnings)", "instance: i-state (--instance-id)", `source: --user-data ${ud}`]);
    const steps = lines.slice(lines.indexOf("steps:") + 1, lines.indexOf("commands:")).map((l) => l.trim().split(/\s+/).slice(0, 2));
    expect(steps).toEqual([["scripts-before", "skipped"], ["network", "skipped"], ["hostname", "skipped"], ["rootsshkeys", "skipped"], ["cvmfs", "ok"], ["mounts", "skipped"], ["users", "ok"], ["x509", "skipped"],
      ["environment", "ok"], ["site", "ok"], ["services", "ok"], ["commands", "ok"], ["scripts-after", "skipped"]]);
    expect(s.stdout).toContain("commands:\n  /opt/cms/setup.sh as cms: exit 0\n");
    const json = JSON.parse((await cvm(["agent", "status", "--root", root, "--json"])).stdout);
    expect(json.steps.every((x: { ms: number }) => typeof x.ms === "number" && x.ms >= 0)).toBe(true);
  });

  test("the log has one line per step with its time, and never a password or user_data", () => {
    const log = readFileSync(join(root, "var/log/cvm-agent.log"), "utf8");
    expect(log).toMatch(/cvm-agent\[\d+\]: step users: ok \(\d+(\.\d+)? ms\)\n/);
    expect(log).toMatch(/cvm-agent\[\d+\]: instance i-state: done in \d+(\.\d+)? ms \(6 steps, 0 failed\)\n/);
    for (const f of ["var/log/cvm-agent.log", "var/lib/cvm/agent/status.json", "var/lib/cvm/agent/instances/i-state/result.json"]) {
      const text = readFileSync(join(root, f), "utf8");
      expect({ f, secret: text.includes(secret), userData: text.includes("CMS_SITECONFIG=EC2") }).toEqual({ f, secret: false, userData: false });
    }
    // the user_data itself is kept for the instance, readable by root only
    const copy = join(root, "var/lib/cvm/agent/instances/i-state/user-data");
    expect(readFileSync(copy, "utf8")).toContain(secret);
    expect(Bun.spawnSync(["stat", "-c", "%a %u", copy]).stdout.toString().trim()).toBe("600 0");
  });

  test("with stderr on the journal (JOURNAL_STREAM, as under the unit) every log line goes there too", async () => {
    const r = await cvm(["agent", "--root", root, "--user-data", ud, "--instance-id", "i-state"], { env: { JOURNAL_STREAM: "8:12345" } });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^started \(root .*\)\nsource: --user-data .*\ninstance i-state: contextualized already/);
  });

  test("the same instance again: nothing done; --force: everything again (accounts kept)", async () => {
    const passwd = readFileSync(join(root, "etc/passwd"), "utf8");
    const again = await cvm(["agent", "--root", root, "--user-data", ud, "--instance-id", "i-state"]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("instance i-state was contextualized already");
    const forced = await cvm(["agent", "--root", root, "--user-data", ud, "--instance-id", "i-state", "--force"]);
    expect(forced.code).toBe(0);
    expect(readFileSync(join(root, "etc/passwd"), "utf8")).toBe(passwd);
    expect(readFileSync(join(root, "var/log/cvm-agent.log"), "utf8").match(/instance i-state: done/g)?.length).toBe(2);
  });

  test("a refused run: status error (exit 1) with the problem, no run-once marker for it", async () => {
    const bad = userData(guest("bad-ud"), "[cernvm]\nusers = Bad!:x:\n");
    const r = await cvm(["agent", "--root", root, "--user-data", bad, "--instance-id", "i-bad"]);
    expect(r.code).toBe(1);
    const s = await cvm(["agent", "status", "--root", root, "--json"]);
    expect(s.code).toBe(1);
    expect(JSON.parse(s.stdout)).toMatchObject({ status: "error", instance_id: "i-bad", errors: ["user_data line 2: [cernvm] users: 'Bad!' is not a valid user name (expected [a-z_][a-z0-9_-]*, at most 32)"] });
    expect(Bun.file(join(root, "var/lib/cvm/agent/instances/i-bad/result.json")).size).toBe(0);
  });
});

describe("validate", () => {
  test("a good file: 'valid user_data', exit 0; warnings on stderr", async () => {
    const root = guest("validate");
    const f = userData(root, SEED + "\n[cernvm]\nfrob = 1\n");
    const r = await cvm(["agent", "validate", f, "--root", root]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`valid user_data: ${f} (2 warnings)\n`);
    expect(r.stderr).toContain(`warning: ${f} line 33: [cernvm] frob: unknown key; ignored\n`);
  });

  test("every problem with its line, as cloud-init schema does; exit 1; --json", async () => {
    const root = guest("validate-bad");
    const f = userData(root, "[cernvm]\nusers = ok:ok:,no way\nbogus line\nenvironment = LD_PRELOAD=/x\ncontextualization_command = ghost:/bin/true\nx509-cert = ###\n");
    const r = await cvm(["agent", "validate", f, "--root", root]);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n").filter(Boolean)).toEqual([
      `error: ${f} line 2: [cernvm] users: 'no way' is not a valid user name (expected [a-z_][a-z0-9_-]*, at most 32)`,
      `error: ${f} line 3: 'bogus line': expected KEY = VALUE, [SECTION] or a comment`,
      `error: ${f} line 4: [cernvm] environment: LD_PRELOAD: refused (it would make shells or the dynamic loader run code)`,
      `error: ${f} line 5: [cernvm] contextualization_command: unknown user ghost (not in /etc/passwd nor in users)`,
      `error: ${f} line 6: [cernvm] x509_cert: not valid base64 (expected the base64 of a proxy file)`,
      `cvm: ${f}: 5 errors`,
    ]);
    const j = await cvm(["agent", "validate", f, "--root", root, "--json"]);
    expect(JSON.parse(j.stdout)).toMatchObject({ file: f, valid: false });
    expect(JSON.parse(j.stdout).errors).toHaveLength(5);
  });

  test("undecodable input is an error, not a crash; options of other actions are usage errors", async () => {
    const root = guest("validate-gz");
    const f = userData(root, Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.from("not gzip at all")]));
    const r = await cvm(["agent", "validate", f, "--root", root]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^error: ${f}: not valid gzip data \\(.+\\)\\ncvm: ${f}: 1 error\\n$`));
    const u = await cvm(["agent", "validate", f, "--force"]);
    expect([u.code, u.stderr.split("\n")[0]]).toEqual([2, "cvm: --force does not go with 'agent validate'"]);
  });
});

describe("install", () => {
  test("writes the unit and enables it as systemctl would (systemctl --root agrees)", async () => {
    const root = guest("install");
    const r = await cvm(["agent", "install", "--root", root, "--exec", "/usr/bin/cvm"]);
    expect(r.code).toBe(0);
    const unit = readFileSync(join(root, "etc/systemd/system/cvm-agent.service"), "utf8");
    expect(unit).toContain("ExecStart=/usr/bin/cvm agent\n");
    expect(unit).toContain("StandardError=journal+console\n");
    expect(unit).toContain("Type=oneshot\n");
    expect(unit).toMatch(/\nBefore=[^\n]*sshd\.service/);
    expect(unit).toContain("After=local-fs.target network-online.target autofs.service\n");
    expect(readlinkSync(join(root, "etc/systemd/system/multi-user.target.wants/cvm-agent.service"))).toBe("/etc/systemd/system/cvm-agent.service");
    expect(r.stderr).toContain(`note: /usr/bin/cvm does not exist under ${root}`);
    if (hasTools("systemctl")) {
      const s = await run(["systemctl", `--root=${root}`, "is-enabled", "cvm-agent.service"]);
      expect(s.stdout.trim()).toBe("enabled");
    }
    if (hasTools("systemd-analyze")) {
      const v = await run(["systemd-analyze", "verify", "--man=no", `--root=${root}`, "cvm-agent.service"]);
      expect(v.stderr).not.toMatch(/Unknown key|Unknown section|Failed to parse|bad-setting/i);
    }
  });
});
