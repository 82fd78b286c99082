// The repositories of the user_data mounted by the agent with cvm's own mount:
// planned only on the real root and only without an automounter for /cvmfs
// (--dry-run under another root says what would be mounted); the mount action
// itself run for real against `cvm serve` and a repository published by cvm,
// and against a server that does not answer (one line, nothing mounted).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { generateKeyPairSync } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { Accounts } from "../src/agent/accounts";
import { applyStep, type ApplyEnv } from "../src/agent/apply";
import { OutputFollower } from "../src/agent/follow";
import { automounterFor } from "../src/agent/plugins/mounts";
import { RootFs } from "../src/agent/root";
import { CVM, cvm } from "./helpers/run";
import { CAN_MOUNT, cleanupMount, runFor } from "./helpers/fuse";
import { Guests } from "./fixtures/agent/guest";

const FQRN = "agent-mount.example.org", DEAD = "dead.example.org";
const KEY_B64 = Buffer.from(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }) as string).toString("base64");
const guests = new Guests();
let work: string;
const mounts: string[] = [];
let serve: Subprocess<"ignore", "pipe", "pipe"> | undefined;

beforeAll(() => { work = mkdtempSync(join(tmpdir(), "cvm-agent-mounts-")); });
afterAll(async () => {
  for (const m of mounts) {
    await runFor([CVM, "umount", m], 15_000);
    await cleanupMount(m);
  }
  serve?.kill();
  await serve?.exited;
  guests.cleanup();
  rmSync(work, { recursive: true, force: true });
}, 60_000);

describe("planned only where cvm should mount", () => {
  test("under another --root, --dry-run shows each repository it would mount (repositories, extra_repositories, [cvmfs]) and mounts nothing", async () => {
    const root = guests.root("dry-mounts");
    const r = await guests.apply(root, `[cernvm]\nrepositories = atlas,cms\nextra_repositories = sw.example.org|127.0.0.1:8000|${KEY_B64}\n[cvmfs]\nCVMFS_REPOSITORIES = atlas,lhcb\n`, "--dry-run");
    expect(r.code).toBe(0);
    const step = r.stdout.slice(r.stdout.indexOf("step mounts:\n"), r.stdout.indexOf("step users"));
    expect(step).toBe(["step mounts:", ...["atlas.cern.ch", "lhcb.cern.ch", "sw.example.org"].map((f) => `  would mount ${f} on /cvmfs/${f} (cvm mount) on the real root; --root is not /, so not mounted`), ""].join("\n"));
  });

  test("on the real root (--dry-run: nothing changed), one step per repository, after cvmfs and before users, services and commands; or left to autofs", async () => {
    const root = guests.root("host-dry"); // only for the user_data file beside it
    const r = await cvm(["agent", "--root", "/", "--user-data", guests.userData(root, "[cernvm]\nrepositories = atlas,sw.example.org\n"), "--dry-run"]);
    expect(r.code).toBe(0);
    const steps = [...r.stdout.matchAll(/^step ([^:]+):/gm)].map((m) => m[1]);
    const auto = automounterFor(new RootFs("/"));
    if (auto) expect(r.stdout).toContain(`step mounts:\n  atlas.cern.ch, sw.example.org: left to the automounter (${auto})\n`);
    else {
      expect(steps.slice(steps.indexOf("cvmfs"), steps.indexOf("users") + 1)).toEqual(["cvmfs", "mount atlas.cern.ch", "mount sw.example.org", "users"]);
      const mounted = (f: string) => readFileSync("/proc/mounts", "utf8").includes(` /cvmfs/${f} `);
      for (const f of ["atlas.cern.ch", "sw.example.org"])
        expect(r.stdout).toContain(`step mount ${f}:\n  ${mounted(f) ? `/cvmfs/${f}: mounted already` : `mount ${f} on /cvmfs/${f} (cvm mount, the configuration above)`}\n`);
    }
    expect(steps.indexOf("commands")).toBeGreaterThan(steps.indexOf("services"));
  });

  test("no repositories: nothing to do", async () => {
    const r = await guests.apply(guests.root("no-repos"), "[cernvm]\norganisations = atlas\n", "--dry-run");
    expect(r.stdout).toContain("step mounts: nothing to do\n");
  });

  const hostAutofs = readFileSync("/proc/mounts", "utf8").split("\n").some((l) => l.split(" ")[1] === "/cvmfs" && l.split(" ")[2] === "autofs");
  test("no automounter: none named in /etc/auto.master (other maps and includes are not /cvmfs)", () => {
    const root = guests.root("no-autofs");
    const r = new RootFs(root);
    expect(automounterFor(r)).toBe(hostAutofs ? "/cvmfs is an autofs mount" : undefined);
    writeFileSync(join(root, "etc/auto.master"), "# maps\n/misc /etc/auto.misc\n+auto.master\n");
    expect(automounterFor(r)).toBe(hostAutofs ? "/cvmfs is an autofs mount" : undefined);
  });

  test.skipIf(hostAutofs)("an automounter for /cvmfs: /etc/auto.master or a file of /etc/auto.master.d naming it", () => {
    const root = guests.root("autofs");
    const r = new RootFs(root);
    mkdirSync(join(root, "etc/auto.master.d"));
    writeFileSync(join(root, "etc/auto.master.d/cvmfs.autofs"), "/cvmfs/ program:/etc/auto.cvmfs\n");
    expect(automounterFor(r)).toBe("/etc/auto.master.d/cvmfs.autofs names /cvmfs");
    writeFileSync(join(root, "etc/auto.master"), "/misc /etc/auto.misc\n/cvmfs /etc/auto.cvmfs\n");
    expect(automounterFor(r)).toBe("/etc/auto.master names /cvmfs");
  });
});

describe.skipIf(!CAN_MOUNT)("the mount action, for real (cvm serve, a repository published by cvm)", () => {
  let root: string, env: ApplyEnv;
  beforeAll(async () => {
    process.env.CVM_BINARY = CVM; // the mount runs `cvm mount`: the built binary, as at boot
    process.env.CVM_RUNTIME_DIR = join(work, "run");
    process.env.CVM_STATE_DIR = join(work, "trust"); // the rollback breadcrumbs of this run alone: another run (under faketime) may have seen a later publish
    const pubEnv = { CVM_CONFIG_DIR: join(work, "publisher"), CVM_STATE_DIR: join(work, "state") };
    const src = join(work, "src"), storage = join(work, "srv", FQRN), keys = join(work, "keys");
    mkdirSync(src);
    writeFileSync(join(src, "pilot.sh"), "#!/bin/sh\necho pilot from the repository\n", { mode: 0o755 });
    for (const args of [["init", FQRN, "--storage", storage, "--keys", keys], ["sync", FQRN, src]]) {
      const r = await cvm(["publish", ...args], { env: pubEnv });
      if (r.code !== 0) throw new Error(r.stderr);
    }
    serve = Bun.spawn([CVM, "serve", "--listen", "127.0.0.1:0", storage], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const reader = serve.stdout.getReader();
    let out = "";
    while (!out.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`cvm serve exited: ${out}`);
      out += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    const url = out.split("\n")[0].split("\t")[0];
    root = guests.root("mounts");
    mkdirSync(join(root, "etc/cvmfs/config.d"), { recursive: true });
    writeFileSync(join(root, "etc/cvmfs/default.local"), [
      `CVMFS_SERVER_URL=${url.slice(0, url.indexOf("/cvmfs/"))}/cvmfs/@fqrn@`, "CVMFS_HTTP_PROXY=DIRECT", `CVMFS_KEYS_DIR=${keys}`,
      `CVMFS_CACHE_BASE=${join(work, "cache")}`, "CVMFS_TIMEOUT=2", "CVMFS_TIMEOUT_DIRECT=2",
    ].join("\n") + "\n");
    // nothing listens on port 1: the server does not answer
    writeFileSync(join(root, `etc/cvmfs/config.d/${DEAD}.conf`), "CVMFS_SERVER_URL=http://127.0.0.1:1/cvmfs/@fqrn@\n");
    env = { root: new RootFs(root), accounts: new Accounts(new RootFs(root)), outputFd: () => 2, commandWaitMs: 0, commands: [], running: [], follower: new OutputFollower(), follow: false };
    mounts.push(join(root, "cvmfs", FQRN), join(root, "cvmfs", DEAD));
  }, 120_000);

  test("mount FQRN: /cvmfs/FQRN made and mounted with the configuration under the root; the program on it runs", async () => {
    await applyStep({ name: `mount ${FQRN}`, actions: [{ kind: "mount", fqrn: FQRN, path: `/cvmfs/${FQRN}` }] }, env);
    const ran = await runFor(["sh", join(root, "cvmfs", FQRN, "pilot.sh")], 30_000);
    expect([ran.code, ran.stdout]).toEqual([0, "pilot from the repository\n"]);
  }, 60_000);

  test("a repository whose server does not answer: the step fails with one line, nothing is left mounted", async () => {
    let error: Error | undefined;
    await applyStep({ name: `mount ${DEAD}`, actions: [{ kind: "mount", fqrn: DEAD, path: `/cvmfs/${DEAD}` }] }, env).catch((e) => { error = e; });
    expect(error?.name).toBe("CvmError");
    expect(error!.message).toContain(DEAD);
    expect(error!.message).not.toContain("\n");
    expect(readFileSync("/proc/mounts", "utf8")).not.toContain(join(root, "cvmfs", DEAD));
    expect(existsSync(join(root, "cvmfs", DEAD))).toBe(true);
  }, 60_000);
});
