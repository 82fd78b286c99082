// Hostile user_data and hostile roots: names and values that would inject
// into a shell or a file are refused with one line and nothing touched; links
// under --root are never followed out of it, and links owned by others not at
// all; scripts are written 0700 and run directly; nothing from user_data
// passes through a shell.
import { afterAll, describe, expect, test } from "bun:test";
import { lchownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cvm, run } from "./helpers/run";
import { testWith } from "./helpers/tools";
import { AGENT_OWN, Guests, fingerprint, guestScript } from "./fixtures/agent/guest";

const isRoot = process.getuid?.() === 0;
const guests = new Guests();
const cleanup: string[] = [];
afterAll(() => { guests.cleanup(); for (const r of cleanup) rmSync(r, { recursive: true, force: true }); });
const guest = (name: string, shell = false) => guests.root(name, { shell });
const apply = (root: string, userData: string, ...extra: string[]) => guests.apply(root, userData, ...extra);

/** Runs the agent and checks it refused with exactly `message` (one line) and changed nothing but its own log and status. */
async function refused(root: string, userData: string, message: string, extra: string[] = []) {
  const before = fingerprint(root, AGENT_OWN);
  const r = await apply(root, userData, ...extra);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 1, stderr: `cvm: ${message}\n` });
  expect(fingerprint(root, AGENT_OWN)).toBe(before);
}

describe("hostile values: one line, nothing touched", () => {
  const root = guest("hostile");
  test("users = x;rm -rf /:g:", () =>
    refused(root, "[cernvm]\nusers = x;rm -rf /:g:\n", "user_data line 2: [cernvm] users: 'x;rm -rf /' is not a valid user name (expected [a-z_][a-z0-9_-]*, at most 32) (nothing applied)"));
  test("a group field that would smuggle fields into /etc/group; root's group for a new user", async () => {
    await refused(root, "[cernvm]\nusers = x:0:\n", "user_data line 2: [cernvm] users: x: '0' is not a valid group name (nothing applied)");
    await refused(root, "[cernvm]\nusers = eve:root:\n", "user_data line 2: [cernvm] users: eve: group root has gid 0; a new user may not get root's group (nothing applied)");
  });
  test("environment: a loader variable, quotes, a name with a space", async () => {
    await refused(root, "[cernvm]\nenvironment = LD_PRELOAD=/tmp/evil.so\n", "user_data line 2: [cernvm] environment: LD_PRELOAD: refused (it would make shells or the dynamic loader run code) (nothing applied)");
    await refused(root, "[cernvm]\nenvironment = A='; rm -rf /'\n", "user_data line 2: [cernvm] environment: A: the value has quotes, backslashes or control characters, which cannot be written safely (nothing applied)");
    await refused(root, "[cernvm]\nenvironment = A B=1\n", "user_data line 2: [cernvm] environment: 'A B': expected NAME=VALUE with a name of letters, digits and _ (nothing applied)");
  });
  test("services with shell syntax or an option in the name", async () => {
    await refused(root, "[cernvm]\nservices = sshd;reboot\n", "user_data line 2: [cernvm] services: 'sshd;reboot' is not a valid unit name (nothing applied)");
    await refused(root, "[cernvm]\nservices = --now\n", "user_data line 2: [cernvm] services: '--now' is not a valid unit name (nothing applied)");
  });
  test("'..' and relative paths: shell, x509-cert-file, contextualization_command", async () => {
    await refused(root, "[cernvm]\nusers = a:a:\nshell = /bin/../../tmp/sh\n", "user_data line 3: [cernvm] shell: '/bin/../../tmp/sh': expected an absolute path such as /bin/bash (nothing applied)");
    await refused(root, "[cernvm]\nx509-cert-file = ../../etc/shadow\n", "user_data line 2: [cernvm] x509_cert_file: '../../etc/shadow': expected an absolute path (nothing applied)");
    await refused(root, "[cernvm]\ncontextualization_command = root:/../../bin/sh\n", "user_data line 2: [cernvm] contextualization_command: '/../../bin/sh': expected an absolute path of plain characters (no '..') (nothing applied)");
  });
  test("an instance id that would be a path", async () => {
    await refused(root, "[cernvm]\norganisations = atlas\n", "instance id '../../etc' (--instance-id): expected letters, digits, '.', '_' and '-'", ["--instance-id", "../../etc"]);
  });
  test("a repository name with a path in it", () =>
    refused(root, `[cernvm]\nextra_repositories = ../../x|s1|${Buffer.from("k").toString("base64")}\n`, "user_data line 2: [cernvm] extra_repositories: '../../x': not a repository name (nothing applied)"));
});

describe.skipIf(!isRoot)("links under --root", () => {
  test("a root-owned link that climbs out of the root is refused, and nothing outside is touched", async () => {
    const root = guest("link-out");
    const outside = mkdtempSync(join(tmpdir(), "cvm-agent-outside-"));
    cleanup.push(outside);
    writeFileSync(join(outside, "default.local"), "MINE=1\n");
    const outsideBefore = fingerprint(outside);
    mkdirSync(join(root, "etc"), { recursive: true });
    symlinkSync("../".repeat(12) + outside.slice(1), join(root, "etc/cvmfs"));
    await refused(root, "[cernvm]\nrepositories = atlas\n", `/etc/cvmfs: is a symbolic link to ${"../".repeat(12)}${outside.slice(1)}, which leaves --root ${root}`);
    expect(fingerprint(outside)).toBe(outsideBefore);
  });

  test("an absolute link is read as the guest reads it: inside the root, never the host's directory of that name", async () => {
    const root = guest("link-abs");
    const outside = mkdtempSync(join(tmpdir(), "cvm-agent-host-"));
    cleanup.push(outside);
    const outsideBefore = fingerprint(outside);
    mkdirSync(join(root, outside), { recursive: true });
    symlinkSync(outside, join(root, "etc/cvmfs"));
    const r = await apply(root, "[cernvm]\nrepositories = atlas\n");
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(readFileSync(join(root, outside, "default.local"), "utf8")).toContain("CVMFS_REPOSITORIES=atlas.cern.ch");
    expect(fingerprint(outside)).toBe(outsideBefore);
  });

  test("a link owned by another user is not followed", async () => {
    const root = guest("link-user");
    mkdirSync(join(root, "var/tmp/evil"), { recursive: true });
    symlinkSync("/var/tmp/evil", join(root, "etc/profile.d"));
    lchownSync(join(root, "etc/profile.d"), 1234, 1234);
    await refused(root, "[cernvm]\nenvironment = A=1\n", "/etc/profile.d: is a symbolic link owned by uid 1234; the agent follows only root's links");
  });

  testWith("openssl")("a link planted at /tmp/x509up_u<uid> is replaced, never written through", async () => {
    const root = guest("link-proxy");
    const dir = mkdtempSync(join(tmpdir(), "cvm-agent-cred-"));
    cleanup.push(dir);
    const made = await run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "k.pem"), "-out", join(dir, "c.pem"), "-days", "2", "-subj", "/CN=pilot"]);
    expect(made.code).toBe(0);
    const pem = readFileSync(join(dir, "c.pem"), "latin1") + readFileSync(join(dir, "k.pem"), "latin1");
    const shadow = readFileSync(join(root, "etc/shadow"), "utf8");
    symlinkSync("/etc/shadow", join(root, "tmp/x509up_u1000"));
    lchownSync(join(root, "tmp/x509up_u1000"), 1000, 1000);
    const r = await apply(root, `[cernvm]\nusers = pilot:pilot:\nx509-cert = ${Buffer.from(pem).toString("base64")}\n`);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const st = lstatSync(join(root, "tmp/x509up_u1000"));
    expect([st.isFile(), st.mode & 0o777, st.uid]).toEqual([true, 0o600, 1000]);
    expect(readFileSync(join(root, "tmp/x509up_u1000"), "latin1")).toBe(pem);
    expect(readFileSync(join(root, "etc/shadow"), "utf8").startsWith(shadow)).toBe(true);
  });

  test("a home that exists already (here a link) is kept as it is, never chowned through", async () => {
    const root = guest("link-home");
    mkdirSync(join(root, "srv/data"), { recursive: true });
    symlinkSync("/srv/data", join(root, "home/alice"));
    const r = await apply(root, "[cernvm]\nusers = alice:alice:\n");
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("warning: user_data line 2: [cernvm] users: alice: /home/alice exists already; kept as it is\n");
    expect(lstatSync(join(root, "srv/data")).uid).toBe(0);
    expect(readlinkSync(join(root, "home/alice"))).toBe("/srv/data");
  });
});

describe.skipIf(!isRoot)("scripts and commands", () => {
  test("user_data scripts are written 0700 and run directly, as root, .before before the plugins and .after after", async () => {
    const root = guest("scripts", true);
    const ud = [
      "#!/bin/sh.before", 'test -e /etc/cernvm/site.conf && echo "site.conf there" > /root/before || echo "no site.conf yet" > /root/before', "exit 0",
      "#!/bin/sh", 'test -e /etc/cernvm/site.conf && echo "site.conf there" > /root/after', "exit 0",
      "[cernvm]", "organisations = atlas", "",
    ].join("\n");
    const r = await apply(root, ud);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(readFileSync(join(root, "root/before"), "utf8")).toBe("no site.conf yet\n");
    expect(readFileSync(join(root, "root/after"), "utf8")).toBe("site.conf there\n");
    const id = JSON.parse(readFileSync(join(root, "var/lib/cvm/agent/status.json"), "utf8")).instance_id;
    const script = join(root, `var/lib/cvm/agent/instances/${id}/scripts/01-before`);
    const st = lstatSync(script);
    expect([st.mode & 0o7777, st.uid]).toEqual([0o700, 0]);
    expect(readFileSync(script, "utf8")).toStartWith("#!/bin/sh\ntest -e"); // the .before suffix gone from the shebang
  });

  test("a failing script fails its step, the others still run, and status says which", async () => {
    const root = guest("script-fail", true);
    const r = await apply(root, "#!/bin/sh.before\nexit 7\n[cernvm]\norganisations = atlas\n");
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("cvm: step scripts-before: script 1 (user_data line 1): exit 7\n");
    expect(readFileSync(join(root, "etc/cernvm/site.conf"), "utf8")).toContain("CERNVM_ORGANISATION=atlas");
    const s = await cvm(["agent", "status", "--root", root, "--json"]);
    expect(s.code).toBe(1);
    expect(JSON.parse(s.stdout).steps.filter((x: { status: string }) => x.status === "failed").map((x: { name: string }) => x.name)).toEqual(["scripts-before"]);
  });

  test("a command still running after --command-wait is left running (the pilot runs for hours) and status says so", async () => {
    const root = guests.root("long", { shell: true, programs: ["/bin/sleep"] });
    guestScript(root, "/opt/pilot.sh", "#!/bin/sh\nexec /bin/sleep 60\n");
    const t0 = performance.now();
    const r = await apply(root, "[cernvm]\nusers = pilot:pilot:\ncontextualization_command = pilot:/opt/pilot.sh\n", "--command-wait", "0.3");
    expect((performance.now() - t0) / 1000).toBeLessThan(20);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const s = await cvm(["agent", "status", "--root", root, "--json"]);
    const c = JSON.parse(s.stdout).commands[0];
    expect(c).toMatchObject({ user: "pilot", path: "/opt/pilot.sh", running: true });
    expect(readFileSync(`/proc/${c.pid}/status`, "utf8")).toMatch(/^Uid:\s+1000\s/m); // the pilot's, not root's
    process.kill(c.pid, "SIGKILL"); // ours: started by the agent this test ran
  });

  test("a script still running after --script-timeout is killed and its step fails", async () => {
    const root = guests.root("slow-script", { shell: true, programs: ["/bin/sleep"] });
    const r = await apply(root, "#!/bin/sh.before\n/bin/sleep 60\nexit 0\n[cernvm]\norganisations = atlas\n", "--script-timeout", "0.3");
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("cvm: step scripts-before: script 1 (user_data line 1): still running after 0.3 s; killed\n");
    expect(readFileSync(join(root, "etc/cernvm/site.conf"), "utf8")).toContain("CERNVM_ORGANISATION=atlas");
  });
});
