// Every built-in template, rendered as `cvm run` renders it, is user_data the
// agent understands completely: `cvm agent validate` finds it valid with no
// warning at all (so no key is unknown to the agent), and `--dry-run` plans it
// against a guest root with no warning either. This replaces the hard-coded
// list of [cernvm] keys the cloud tests used to check templates against.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cvm } from "./helpers/run";
import { makeGuestRoot } from "./fixtures/agent/guest";
import { listTemplates } from "../src/cloud/templates";

let work: string, root: string, env: Record<string, string>;
const templates = listTemplates({ CVM_CONFIG_DIR: "/nonexistent" }).map((t) => t.name); // the built-in ones

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "cvm-agent-templates-"));
  env = { CVM_CONFIG_DIR: join(work, "config") }; // no user templates: the built-in ones only
  root = makeGuestRoot({ name: "templates" });
  // the guest has the unit the templates start, as a CernVM image does
  mkdirSync(join(root, "lib/systemd/system"), { recursive: true });
  writeFileSync(join(root, "lib/systemd/system/sshd.service"), "[Service]\nExecStart=/usr/sbin/sshd -D\n[Install]\nWantedBy=multi-user.target\n");
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
});

test("the templates checked here are the ones the binary has", async () => {
  const r = await cvm(["template", "ls"], { env });
  expect(r.stdout.trim().split("\n").map((l) => l.split("\t")[0])).toEqual(templates);
  expect(templates).toContain("panda-wn");
});

describe("each template through the agent", () => {
  for (const name of templates) {
    test(`${name}: rendered, valid with no warning, and planned by --dry-run with no warning`, async () => {
      const rendered = await cvm(["template", "render", name, "--set", "PANDA_QUEUE=CERN-PROD"], { env });
      expect(rendered.code).toBe(0);
      const file = join(work, `${name}.ini`);
      writeFileSync(file, rendered.stdout);
      const v = await cvm(["agent", "validate", file, "--root", root]);
      expect({ code: v.code, stdout: v.stdout, stderr: v.stderr }).toEqual({ code: 0, stdout: `valid user_data: ${file}\n`, stderr: "" });
      const plan = await cvm(["agent", "--root", root, "--user-data", file, "--dry-run"]);
      expect({ code: plan.code, stderr: plan.stderr }).toEqual({ code: 0, stderr: "" });
      expect(plan.stdout).toMatch(/^step cvmfs:\n/m); // every template configures CernVM-FS at least
    });
  }

  test("batch, interactive, panda-wn: their keys have the effects the plan shows", async () => {
    for (const name of ["batch", "interactive", "panda-wn"]) {
      const rendered = await cvm(["template", "render", name, "--set", "PANDA_QUEUE=CERN-PROD"], { env });
      const file = join(work, `${name}-effects.ini`);
      writeFileSync(file, rendered.stdout);
      const plan = await cvm(["agent", "--root", root, "--user-data", file, "--dry-run"]);
      expect(plan.stdout).toContain("+CVMFS_HTTP_PROXY=DIRECT");
      expect(plan.stdout).toMatch(/\+CVMFS_REPOSITORIES=[a-z.,-]*grid\.cern\.ch/);
      expect(plan.stdout).toMatch(/add user \w+ \(uid 1000/);
      expect(plan.stdout).toContain("link /etc/systemd/system/multi-user.target.wants/sshd.service -> /lib/systemd/system/sshd.service");
    }
  });

  test("panda-wn's own keys: the pilot gets the proxy's place, the queue in its environment, the pilot command", async () => {
    const rendered = await cvm(["template", "render", "panda-wn", "--set", "PANDA_QUEUE=CERN-PROD"], { env });
    const file = join(work, "panda-wn-own.ini");
    writeFileSync(file, rendered.stdout);
    const plan = await cvm(["agent", "--root", root, "--user-data", file, "--dry-run"]);
    expect(plan.stdout).toContain("+CERNVM_ORGANISATION=atlas");
    expect(plan.stdout).toContain("+export PANDA_QUEUE=CERN-PROD");
    expect(plan.stdout).toMatch(/run \/cvmfs\/atlas\.cern\.ch\/repo\/sw\/PandaPilot\/pilot\/latest\/runpilot\.sh as pilot \(uid 1000, [^\n]*environment: [^\n]*PANDA_QUEUE PANDA_SITE/);
  });
});
