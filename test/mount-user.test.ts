// `cvm mount` by a normal user: the mount goes through fusermount3, the
// cache and runtime files are the user's, and `cvm umount` ends it as the user.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, linkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CVM, cvm } from "./helpers/run";
import { CAN_MOUNT, cleanupMount, runFor } from "./helpers/fuse";
import { hasTools } from "./helpers/tools";
import { startNginx, type Nginx } from "./servers/nginx";
import { haveServers } from "./servers/server-process";

const FQRN = "user.example.org";
const USER = "cvmmounttest";
const ready = CAN_MOUNT && haveServers("nginx") && hasTools("fusermount3", "setpriv", "useradd") && (statSync("/dev/fuse").mode & 0o006) === 0o006;
let base: string, mp: string, env: Record<string, string>, nginx: Nginx;
let user = { uid: 0, gid: 0 };

const asUser = (argv: string[], timeoutMs = 60_000) =>
  runFor(["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--", ...argv], timeoutMs, { env });

beforeAll(async () => {
  if (!ready) return; // every test is skipped (counted)
  if ((await runFor(["id", "-u", USER])).code !== 0) {
    const add = await runFor(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER]);
    if (add.code !== 0) throw new Error(add.stderr);
  }
  const id = (flag: string) => runFor(["id", flag, USER]).then((r) => Number(r.stdout.trim()));
  user = { uid: await id("-u"), gid: await id("-g") };
  base = mkdtempSync(join(tmpdir(), "cvm-mount-user-"));
  chmodSync(base, 0o755);
  const src = join(base, "src"), storage = join(base, "srv", FQRN), keys = join(base, "keys");
  mkdirSync(src);
  writeFileSync(join(src, "hello.txt"), "hello from a user mount\n");
  linkSync(join(src, "hello.txt"), join(src, "again.txt"));
  const penv = { CVM_CONFIG_DIR: join(base, "publisher"), CVM_STATE_DIR: join(base, "pstate") };
  for (const args of [["init", FQRN, "--storage", storage, "--keys", keys], ["sync", FQRN, src]]) {
    const r = await cvm(["publish", ...args], { env: penv });
    if (r.code !== 0) throw new Error(r.stderr);
  }
  chmodSync(keys, 0o755);
  nginx = await startNginx({ storageDirs: { [FQRN]: storage } });
  const etc = join(base, "etc");
  mkdirSync(etc);
  writeFileSync(join(etc, "default.local"), `CVMFS_SERVER_URL=${nginx.url("@fqrn@")}\nCVMFS_HTTP_PROXY=DIRECT\nCVMFS_KEYS_DIR=${keys}\n`);
  const home = join(base, "home");
  mp = join(base, "mnt");
  for (const dir of [home, mp]) { mkdirSync(dir); chownSync(dir, user.uid, user.gid); }
  env = { HOME: home, CVM_CONFIG_ROOT: etc, CVM_RUNTIME_DIR: join(home, "run"), XDG_CACHE_HOME: join(home, ".cache") };
}, 120_000);

afterAll(async () => {
  if (mp) await cleanupMount(mp);
  await nginx?.remove();
  if (base) rmSync(base, { recursive: true, force: true });
}, 60_000);

describe.skipIf(!ready)("cvm mount as a normal user", () => {
  test("mounts through fusermount3 with the user's ids; the user reads it; the cache is the user's", async () => {
    const r = await asUser([CVM, "mount", FQRN, mp]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    const line = readFileSync("/proc/self/mounts", "utf8").split("\n").find((l) => l.split(" ")[1] === mp)!;
    expect(line).toContain("fuse.cvmfs2");
    expect(line).toContain(`user_id=${user.uid},group_id=${user.gid}`);
    expect((await asUser(["cat", join(mp, "hello.txt")])).stdout).toBe("hello from a user mount\n");
    const inodes = (await asUser(["stat", "-c", "%i %h", join(mp, "hello.txt"), join(mp, "again.txt")])).stdout.trim().split("\n");
    expect(inodes[0]).toBe(inodes[1]);
    expect(inodes[0].endsWith(" 2")).toBe(true);
    expect(statSync(join(env.XDG_CACHE_HOME, "cvm", "cvmfs", "shared", "cachedb")).uid).toBe(user.uid);
    expect((await asUser([CVM, "fs", "talk", mp, "passthrough"])).stdout).toMatch(/^off/); // no CAP_SYS_ADMIN
  }, 90_000);

  test("the user's cvm umount ends it through fusermount3", async () => {
    const u = await asUser([CVM, "umount", mp, "-v"]);
    expect(u.code).toBe(0);
    expect(readFileSync("/proc/self/mounts", "utf8")).not.toContain(` ${mp} `);
  }, 60_000);
});
