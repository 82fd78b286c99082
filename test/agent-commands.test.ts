// Contextualization commands: run as their user by cvm itself (no chroot(1)),
// with the exact call that failed when it cannot (the agent started without
// the capability, through setpriv); a command whose program is missing is a
// failure that is not recorded, tried again by the next run and said by
// `status`, while any other failure is recorded as before.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CVM, cvm, run } from "./helpers/run";
import { hasTools } from "./helpers/tools";
import { Guests, guestScript } from "./fixtures/agent/guest";

const isRoot = process.getuid?.() === 0;
const guests = new Guests();
afterAll(() => guests.cleanup());
const UD = (command: string) => `[cernvm]\nusers = pilot:pilot:\ncontextualization_command = pilot:${command}\n`;
const result = (root: string, id: string) => join(root, `var/lib/cvm/agent/instances/${id}/result.json`);
const status = async (root: string) => JSON.parse((await cvm(["agent", "status", "--root", root, "--json"])).stdout);

describe.skipIf(!isRoot)("commands run as their user by cvm itself", () => {
  test("the program runs in the root, as the user, with exactly their groups", async () => {
    const root = guests.root("as-user", { shell: true, programs: ["/usr/bin/id"] });
    guestScript(root, "/opt/who.sh", "#!/bin/sh\n/usr/bin/id > /tmp/who\necho /* > /tmp/root-seen\n");
    const r = await cvm(["agent", "--root", root, "--user-data", guests.userData(root, UD("/opt/who.sh")), "--instance-id", "i-as"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(readFileSync(join(root, "tmp/who"), "utf8")).toBe("uid=1000(pilot) gid=1000(pilot) groups=1000(pilot)\n");
    expect(readFileSync(join(root, "tmp/root-seen"), "utf8")).toContain("/opt /root");
  });

  for (const [cap, call] of [["setuid", "setuid 1000"], ["setgid", "setgroups 1000"], ["sys_chroot", "chroot ROOT"]] as const)
    test.skipIf(!hasTools("setpriv"))(`without CAP_${cap.toUpperCase()}: the step says '${call}: Operation not permitted', and it is recorded`, async () => {
      const root = guests.root(`no-${cap}`, { shell: true });
      guestScript(root, "/opt/pilot.sh", "#!/bin/sh\necho ran > /tmp/ran\n");
      const ud = guests.userData(root, UD("/opt/pilot.sh"));
      const r = await run(["setpriv", `--bounding-set=-${cap}`, CVM, "agent", "--root", root, "--user-data", ud, "--instance-id", `i-${cap}`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`cvm: step commands: /opt/pilot.sh (as pilot): ${call.replace("ROOT", root)}: Operation not permitted\n`);
      expect(existsSync(join(root, "tmp/ran"))).toBe(false);
      expect(existsSync(result(root, `i-${cap}`))).toBe(true);
    });
});

describe.skipIf(!isRoot)("a missing program is tried again at the next run; other failures are recorded", () => {
  test("missing: status error, not recorded, `status` says so; the next run tries again and, once the program is there, records it", async () => {
    const root = guests.root("missing", { shell: true });
    const ud = guests.userData(root, UD("/cvmfs/sw.example.org/pilot.sh"));
    const agent = (...extra: string[]) => cvm(["agent", "--root", root, "--user-data", ud, "--instance-id", "i-miss", ...extra]);
    const first = await agent();
    expect(first.code).toBe(1);
    expect(first.stderr).toBe("cvm: step commands: /cvmfs/sw.example.org/pilot.sh (as pilot): /cvmfs/sw.example.org/pilot.sh: no such file in the root\n");
    expect(existsSync(result(root, "i-miss"))).toBe(false);
    expect(await status(root)).toMatchObject({ status: "error", retry: true, commands: [{ path: "/cvmfs/sw.example.org/pilot.sh", retry: true }] });
    const s = await cvm(["agent", "status", "--root", root]);
    expect(s.code).toBe(1);
    expect(s.stdout).toContain("  /cvmfs/sw.example.org/pilot.sh as pilot: failed: /cvmfs/sw.example.org/pilot.sh: no such file in the root (tried again at the next boot)\n");
    expect(s.stdout).toEndWith("not recorded as contextualized: a command's program is missing or not executable; the next boot (cvm agent) tries again\n");

    // the next run (no --force) tries again; still missing: still not recorded
    const second = await agent();
    expect(second.code).toBe(1);
    expect(second.stderr).not.toContain("contextualized already");
    // not executable is the same case
    guestScript(root, "/cvmfs/sw.example.org/pilot.sh", "#!/bin/sh\necho ran > /tmp/ran\n", 0o644);
    const third = await agent();
    expect(third.stderr).toBe("cvm: step commands: /cvmfs/sw.example.org/pilot.sh (as pilot): /cvmfs/sw.example.org/pilot.sh: not executable\n");
    expect(existsSync(result(root, "i-miss"))).toBe(false);

    guestScript(root, "/cvmfs/sw.example.org/pilot.sh", "#!/bin/sh\necho ran > /tmp/ran\n");
    const fourth = await agent();
    expect([fourth.code, fourth.stderr]).toEqual([0, ""]);
    expect(readFileSync(join(root, "tmp/ran"), "utf8")).toBe("ran\n");
    expect(await status(root)).toMatchObject({ status: "done", commands: [{ exit: 0 }] });
    expect(existsSync(result(root, "i-miss"))).toBe(true);
    const fifth = await agent();
    expect(fifth.code).toBe(0);
    expect(fifth.stderr).toContain("instance i-miss was contextualized already");
  });

  test("an interpreter that is not there (execve fails in the child): the exact call, and tried again", async () => {
    const root = guests.root("no-interp", { shell: true });
    guestScript(root, "/opt/pilot.py", "#!/usr/bin/python9\nprint(1)\n");
    const r = await cvm(["agent", "--root", root, "--user-data", guests.userData(root, UD("/opt/pilot.py")), "--instance-id", "i-interp"]);
    expect(r.stderr).toBe("cvm: step commands: /opt/pilot.py (as pilot): execve /opt/pilot.py: No such file or directory\n");
    expect(existsSync(result(root, "i-interp"))).toBe(false);
  });

  test("a program that runs and fails: recorded as before (the next run does nothing)", async () => {
    const root = guests.root("exit-3", { shell: true });
    guestScript(root, "/opt/pilot.sh", "#!/bin/sh\nexit 3\n");
    const ud = guests.userData(root, UD("/opt/pilot.sh"));
    const r = await cvm(["agent", "--root", root, "--user-data", ud, "--instance-id", "i-exit"]);
    expect([r.code, r.stderr]).toEqual([1, "cvm: step commands: /opt/pilot.sh (as pilot): exit 3\n"]);
    expect(existsSync(result(root, "i-exit"))).toBe(true);
    expect((await status(root)).retry).toBeUndefined();
    const again = await cvm(["agent", "--root", root, "--user-data", ud, "--instance-id", "i-exit"]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("instance i-exit was contextualized already");
  });
});

describe.skipIf(!isRoot)("the commands' output on the console as well as in their log", () => {
  test("--follow: the agent stays until the command ends, echoing each line as [program] LINE, and says how it ended", async () => {
    const root = guests.root("follow", { shell: true, programs: ["/bin/sleep"] });
    guestScript(root, "/opt/pilot.sh", "#!/bin/sh\necho one\n/bin/sleep 0.5\necho two >&2\nprintf 'no newline'\nexit 4\n");
    const r = await cvm(["agent", "--root", root, "--user-data", guests.userData(root, UD("/opt/pilot.sh")), "--instance-id", "i-follow", "--command-wait", "0", "--follow"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("[pilot.sh] one\n[pilot.sh] two\n[pilot.sh] no newline\n[pilot.sh] /opt/pilot.sh (as pilot) ended: exit 4\n");
    expect(readFileSync(join(root, "var/log/cvm-agent-output/01-pilot.sh.log"), "utf8")).toBe("one\ntwo\nno newline");
    expect(readFileSync(join(root, "var/log/cvm-agent.log"), "utf8")).toContain("command /opt/pilot.sh (as pilot) ended: exit 4\n");
    expect(await status(root)).toMatchObject({ status: "error", commands: [{ path: "/opt/pilot.sh", exit: 4, log: "/var/log/cvm-agent-output/01-pilot.sh.log" }], errors: ["commands: /opt/pilot.sh (as pilot): exit 4"] });
    expect((await cvm(["agent", "status", "--root", root])).stdout).toContain("commands:\n  /opt/pilot.sh as pilot: exit 4\n    output: /var/log/cvm-agent-output/01-pilot.sh.log\n");
  });

  test("without --follow: what the command writes during --command-wait is echoed, prefixed; its end is not announced", async () => {
    const root = guests.root("no-follow", { shell: true });
    guestScript(root, "/opt/pilot.sh", "#!/bin/sh\necho one\necho two\n");
    // the wait ends when the command does; 60 s is only the bound
    const r = await cvm(["agent", "--root", root, "--user-data", guests.userData(root, UD("/opt/pilot.sh")), "--instance-id", "i-nofollow", "--command-wait", "60"]);
    expect([r.code, r.stderr]).toEqual([0, "[pilot.sh] one\n[pilot.sh] two\n"]);
  });

  test("a command left running keeps writing to its file after the agent has gone (no pipe to break)", async () => {
    const root = guests.root("left-running", { shell: true, programs: ["/bin/sleep"] });
    guestScript(root, "/opt/pilot.sh", "#!/bin/sh\necho early\nwhile [ ! -e /tmp/go ]; do /bin/sleep 0.05; done\necho late\necho finished > /tmp/finished\n");
    const r = await cvm(["agent", "--root", root, "--user-data", guests.userData(root, UD("/opt/pilot.sh")), "--instance-id", "i-left", "--command-wait", "0"]);
    const pid = (await status(root)).commands[0].pid;
    try {
      expect(r.code).toBe(0);
      expect(["", "[pilot.sh] early\n"]).toContain(r.stderr); // whatever it had written when the agent stopped waiting
      writeFileSync(join(root, "tmp/go"), "");
      const deadline = performance.now() + 20_000;
      while (!existsSync(join(root, "tmp/finished")) && performance.now() < deadline) await Bun.sleep(20);
      expect(readFileSync(join(root, "var/log/cvm-agent-output/01-pilot.sh.log"), "utf8")).toBe("early\nlate\n");
    } finally {
      try { process.kill(pid, "SIGKILL"); } catch { /* it ended */ }
    }
  }, 30_000);
});
