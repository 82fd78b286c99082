// `cvm mount` end to end: a repository published by cvm, served by nginx,
// read through squid, mounted with FUSE by the daemon cvm starts. Every access
// to the mount runs as a subprocess with a deadline (runFor): the test process
// never blocks on a mount, and afterAll leaves nothing mounted.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CVM, cvm } from "./helpers/run";
import { CAN_MOUNT, cleanupMount, runFor, waitFor } from "./helpers/fuse";
import { makeTree } from "./helpers/tree";
import { startNginx, type Nginx } from "./servers/nginx";
import { startSquid, type Squid } from "./servers/squid";
import { haveServers } from "./servers/server-process";

const FQRN = "mount.example.org";
const ready = CAN_MOUNT && haveServers("nginx", "squid");
let work: string, src: string, storage: string, keys: string, etc: string, env: Record<string, string>;
let nginx: Nginx, squid: Squid;
const mounts: string[] = [];

const mb = 1 << 20;

beforeAll(async () => {
  if (!ready) return; // every test is skipped (counted) below
  work = mkdtempSync(join(tmpdir(), "cvm-mount-"));
  src = join(work, "src"); storage = join(work, "srv", FQRN); keys = join(work, "keys"); etc = join(work, "etc");
  env = { CVM_CONFIG_DIR: join(work, "publisher"), CVM_STATE_DIR: join(work, "state"), CVM_CONFIG_ROOT: etc, CVM_RUNTIME_DIR: join(work, "run") };
  makeTree(src, { files: 400, bigFileBytes: 100 * mb });
  for (const args of [["init", FQRN, "--storage", storage, "--keys", keys, "--ttl", "2"], ["sync", FQRN, src, "--xattrs"]]) {
    const r = await cvm(["publish", ...args], { env });
    if (r.code !== 0) throw new Error(r.stderr);
  }
  [nginx, squid] = await Promise.all([startNginx({ storageDirs: { [FQRN]: storage } }), startSquid({ memoryCacheMB: 256, maxObjectMB: 32 })]);
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(etc, "default.local"), [
    `CVMFS_SERVER_URL="${nginx.url("@fqrn@")}"`, `CVMFS_HTTP_PROXY="${squid.url}"`, `CVMFS_KEYS_DIR=${keys}`,
    `CVMFS_CACHE_BASE=${join(work, "cache")}`, "CVMFS_KCACHE_TIMEOUT=1", "CVMFS_TIMEOUT=5",
  ].join("\n") + "\n");
}, 180_000);

afterAll(async () => {
  for (const m of mounts) {
    await runFor([CVM, "umount", m], 15_000, { env });
    await cleanupMount(m);
  }
  await Promise.all([nginx, squid].filter(Boolean).map((s) => s.remove()));
  if (work) rmSync(work, { recursive: true, force: true });
}, 120_000);

/** A fresh, empty mountpoint, remembered for cleanup. */
function mountpoint(name: string): string {
  const m = join(work, "mnt", name);
  mkdirSync(m, { recursive: true });
  mounts.push(m);
  return m;
}

const mount = (m: string, ...extra: string[]) => runFor([CVM, "mount", FQRN, m, ...extra], 60_000, { env });
const sh = (cmd: string, timeoutMs = 60_000) => runFor(["sh", "-c", cmd], timeoutMs, { env });
const talk = async (m: string, command: string) => (await runFor([CVM, "fs", "talk", m, ...command.split(" ")], 15_000, { env })).stdout.trim();
/** The daemon's pid, checked: a 0 from a failed talk would make kill() hit our own process group. */
const daemonPid = async (m: string) => {
  const pid = Number(await talk(m, "pid"));
  expect(pid).toBeGreaterThan(1);
  return pid;
};
/** Mounts and asserts it worked, showing cvm's stderr when it did not. */
const mounted = async (m: string, ...extra: string[]) => {
  const r = await mount(m, ...extra);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
  return r;
};

describe.skipIf(!ready)("cvm mount", () => {
  let m: string;

  test("mounts, returning once the mount answers; mount(8) shows cvmfs2", async () => {
    m = mountpoint("main");
    const r = await mount(m);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const mounts = readFileSync("/proc/self/mountinfo", "utf8");
    expect(mounts).toContain(` ${m} `);
    expect(mounts).toMatch(new RegExp(`${m} .* - fuse\\.cvmfs2 cvmfs2 ro`));
    expect(await talk(m, "revision")).toBe("2");
  }, 60_000);

  test("ls -lR, find and stat see the published tree; every file's md5 matches the source", async () => {
    const list = (root: string) => sh(`cd '${root}' && find . -not -name .cvmfscatalog -printf '%P %y %m %s %T@\\n' | sort`);
    const [mine, theirs] = await Promise.all([list(m), list(src)]);
    expect(mine.timedOut).toBe(false);
    // Whole seconds; directory sizes differ by filesystem; a symlink's size is its expanded target's ($(VAR) links differ).
    const norm = (s: string) => s.split("\n").map((l) => l.replace(/ (\d+)\.\d+$/, " $1").replace(/^(\S+) ([dl]) (\d+) \d+/, "$1 $2 $3 0")).join("\n");
    expect(norm(mine.stdout)).toBe(norm(theirs.stdout));
    const lsR = await sh(`ls -lR '${m}' | wc -l`);
    expect(Number(lsR.stdout)).toBeGreaterThan(400);
    const md5 = await sh(`cd '${src}' && find . -type f -not -name .cvmfscatalog -print0 | xargs -0 md5sum > '${work}/md5' && cd '${m}' && md5sum --quiet -c '${work}/md5'`, 120_000);
    expect(md5.stdout + md5.stderr).toBe("");
    expect(md5.code).toBe(0);
    // The preferred I/O size is 1 MiB (a read on FUSE costs more than on a disk): cat reads in 1 MiB pieces.
    expect((await sh(`stat -c %o '${m}/f0.txt'`)).stdout).toBe("1048576\n");
  }, 180_000);

  test("symlinks (a $(VAR) link expanded with its default), hardlinks share an inode, xattrs, a script runs", async () => {
    expect((await sh(`readlink '${m}/link-to-f0'`)).stdout).toBe("f0.txt\n");
    expect((await sh(`readlink '${m}/varlink'`)).stdout).toBe("/cvmfs/x86_64/lib\n");
    const inodes = (await sh(`stat -c '%i %h' '${m}/software/hl-a' '${m}/software/hl-b' '${m}/software/hl-c'`)).stdout.trim().split("\n");
    expect(new Set(inodes).size).toBe(1);
    expect(inodes[0].split(" ")[1]).toBe("3");
    const x = (path: string, name: string) => sh(`python3 -c "import os,sys; sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2]).decode())" '${path}' '${name}'`);
    expect((await x(`${m}/script.sh`, "user.purpose")).stdout).toBe("greeting");
    expect((await x(m, "user.fqrn")).stdout).toBe(FQRN);
    expect((await x(m, "user.revision")).stdout).toBe("2");
    expect((await x(`${m}/script.sh`, "user.hash")).stdout).toMatch(/^[0-9a-f]{40}$/);
    expect((await x(m, "user.host")).stdout).toBe(nginx.url(FQRN));
    expect((await x(m, "user.proxy")).stdout).toBe(squid.url);
    expect((await x(`${m}/f0.txt`, "user.nothing")).stderr).toContain("No data available");
    const run = await runFor([`${m}/script.sh`], 15_000);
    expect(run.stdout).toBe("hi\n");
  }, 60_000);

  test("the 100 MB chunked file at random offsets, small and large reads; 16 readers at once", async () => {
    const big = "software/v1/big.bin";
    const script = [
      "import os, random, sys",
      "a, b = open(sys.argv[1], 'rb'), open(sys.argv[2], 'rb')",
      "size = os.path.getsize(sys.argv[2]); rnd = random.Random(7)",
      "for i in range(300):",
      "    n = rnd.choice([1, 4096, 65536, 1 << 20, 3 << 20]); off = rnd.randrange(0, size)",
      "    a.seek(off); b.seek(off)",
      "    if a.read(n) != b.read(n): print('differs at', off, n); sys.exit(1)",
      "print('same')",
    ].join("\n");
    writeFileSync(join(work, "random-read.py"), script);
    const r = await runFor(["python3", join(work, "random-read.py"), join(m, big), join(src, big)], 120_000);
    expect(r.stdout).toBe("same\n");
    const parallel = await sh(`cd '${m}' && find . -type f -name 'f*.txt' -print0 | xargs -0 -P 16 -n 8 md5sum | sort -k2 > '${work}/p16' && cd '${src}' && find . -type f -name 'f*.txt' -print0 | xargs -0 md5sum | sort -k2 | cmp - '${work}/p16' && echo same`, 120_000);
    expect(parallel.stdout).toBe("same\n");
  }, 180_000);

  test("passthrough: a cached file's reads never reach the daemon; without it, the same bytes through READ", async () => {
    expect(await talk(m, "passthrough")).toBe("on");
    const reads = async (mp: string) => Number((await talk(mp, "requests")).match(/^READ (\d+)$/m)?.[1] ?? 0);
    const file = "f7.txt";
    expect((await sh(`cat '${m}/${file}' > /dev/null`)).code).toBe(0); // opened once: fetched and cached
    const before = await reads(m);
    for (let i = 0; i < 3; i++) expect((await sh(`dd if='${m}/${file}' bs=4k 2>/dev/null | md5sum`)).stdout).toBe((await sh(`md5sum < '${src}/${file}'`)).stdout);
    expect(await reads(m)).toBe(before);
    // A chunked file read whole is assembled in the cache; later opens pass that copy through.
    const big = "software/v1/big.bin";
    expect((await sh(`cat '${m}/${big}' > /dev/null`)).code).toBe(0);
    await waitFor(async () => {
      const r0 = await reads(m);
      await sh(`cat '${m}/${big}' > /dev/null`);
      return (await reads(m)) === r0;
    }, 30_000, "the chunked file to be assembled and passed through");
    expect((await sh(`md5sum < '${m}/${big}'`)).stdout).toBe((await sh(`md5sum < '${src}/${big}'`)).stdout);
    const off = mountpoint("no-passthrough");
    expect((await mount(off, "--no-passthrough")).code).toBe(0);
    expect(await talk(off, "passthrough")).toMatch(/^off/);
    const r0 = await reads(off);
    expect((await sh(`md5sum < '${off}/${file}'`)).stdout).toBe((await sh(`md5sum < '${src}/${file}'`)).stdout);
    expect(await reads(off)).toBeGreaterThan(r0);
    expect((await runFor([CVM, "umount", off], 15_000, { env })).code).toBe(0);
  }, 60_000);

  test("a new revision appears without a remount; a file already open keeps the content it opened", async () => {
    // Direct to the stratum: through squid the manifest is also cached for its 61 s max-age, as for the stock client.
    const direct = mountpoint("direct");
    expect((await mount(direct, "-o", "CVMFS_HTTP_PROXY=DIRECT")).code).toBe(0);
    // Hold a file open across the publish, reading half before and half after.
    const holder = Bun.spawn(["python3", "-c", [
      "import sys",
      "f = open(sys.argv[1], 'rb'); first = f.read(4)",
      "print('open', flush=True); sys.stdin.readline()",
      "print((first + f.read()).decode(), end='', flush=True)",
    ].join("\n"), join(direct, "f7.txt")], { stdin: "pipe", stdout: "pipe", env: { ...process.env } });
    const reader = holder.stdout.getReader();
    try {
      const old = readFileSync(join(src, "f7.txt"), "utf8");
      let said = "";
      while (!said.includes("\n")) said += new TextDecoder().decode((await reader.read()).value);
      expect(said).toBe("open\n");
      writeFileSync(join(src, "f7.txt"), "the third revision\n");
      writeFileSync(join(src, "added-in-rev3.txt"), "new\n");
      const p = await cvm(["publish", "sync", FQRN, src, "--xattrs"], { env });
      expect(p.code).toBe(0);
      // After the catalog TTL (2 s here) and the kernel's cache (1 s), without asking:
      await waitFor(async () => (await sh(`cat '${direct}/added-in-rev3.txt'`, 10_000)).stdout === "new\n", 30_000, "the new revision on the mount");
      expect(await talk(direct, "revision")).toBe("3");
      expect((await sh(`cat '${direct}/f7.txt'`)).stdout).toBe("the third revision\n");
      holder.stdin.write("go\n");
      holder.stdin.end();
      let rest = "";
      for (;;) { const { value, done } = await reader.read(); if (done) break; rest += new TextDecoder().decode(value); }
      expect(rest).toBe(old);
    } finally {
      holder.kill();
    }
    expect(await talk(direct, "remount")).toBe("revision 3 is current");
    expect((await runFor([CVM, "umount", direct], 15_000, { env })).code).toBe(0);
  }, 90_000);

  test("the daemon killed with SIGKILL: nothing hangs; umount cleans up and a new mount works", async () => {
    const pid = await daemonPid(m);
    process.kill(pid, "SIGKILL");
    await waitFor(() => { try { process.kill(pid, 0); return false; } catch { return true; } }, 10_000, "the daemon to die");
    const ls = await sh(`ls '${m}'`, 10_000);
    expect(ls.timedOut).toBe(false);
    expect(ls.code).not.toBe(0);
    expect(ls.stderr).toMatch(/Transport endpoint is not connected|Software caused connection abort/);
    const u = await runFor([CVM, "umount", m, "-v"], 15_000, { env });
    expect(u.code).toBe(0);
    expect(u.stderr).toContain("the daemon was gone; connection aborted and unmounted");
    await mounted(m);
    expect((await sh(`cat '${m}/software/hl-a'`)).stdout).toBe("hardlinked content\n");
  }, 60_000);

  test("a mount on a dead daemon's mountpoint cleans up by itself", async () => {
    const pid = await daemonPid(m);
    process.kill(pid, "SIGKILL");
    await waitFor(() => { try { process.kill(pid, 0); return false; } catch { return true; } }, 10_000, "the daemon to die");
    const r = await mount(m);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("cleaning up the mount of a daemon that is gone");
    expect((await sh(`cat '${m}/f14.txt' | head -c 7`)).stdout).toBe("file 14");
  }, 60_000);

  test("as /sbin/mount.cvmfs, as mount(8) and autofs call it: mount.cvmfs :REPO DIR -o opts", async () => {
    const helper = join(work, "sbin", "mount.cvmfs");
    mkdirSync(join(work, "sbin"), { recursive: true });
    symlinkSync(CVM, helper);
    const mp = mountpoint("helper");
    const fake = await runFor([helper, FQRN, mp, "-f", "-o", "ro"], 15_000, { env });
    expect(fake.code).toBe(0); // -f: everything but the mount
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(` ${mp} `);
    const r = await runFor([helper, `:${FQRN}`, mp, "-n", "-o", "ro,nodev,_netdev,CVMFS_KCACHE_TIMEOUT=2"], 60_000, { env });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect((await sh(`cat '${mp}/software/hl-b'`)).stdout).toBe("hardlinked content\n");
    expect((await runFor(["umount", mp], 15_000)).code).toBe(0); // umount(8): the daemon sees its connection end and exits
    await waitFor(async () => (await runFor([CVM, "fs", "talk", mp, "pid"], 5_000, { env })).code !== 0, 10_000, "the daemon to go");
  }, 90_000);

  test("bad input is one line and leaves nothing mounted", async () => {
    const notEmpty = join(work, "not-empty");
    mkdirSync(notEmpty, { recursive: true });
    writeFileSync(join(notEmpty, "x"), "");
    const cases: [string[], string, Record<string, string>][] = [
      [[FQRN, join(work, "missing")], "no such directory (create the mountpoint first)", {}],
      [[FQRN, notEmpty], "not empty; a mountpoint must be an empty directory", {}],
      [[FQRN, join(work, "src", "f0.txt")], "not a directory", {}],
      [["other.example.org", mountpoint("other")], "is not set", { CVM_CONFIG_ROOT: join(work, "empty-etc") }],
      [[FQRN, mountpoint("nokey"), "-o", `CVMFS_KEYS_DIR=${join(work, "no-keys")}`], "no such key file or directory", {}],
      [[FQRN, mountpoint("badopt"), "-o", "frobnicate"], "-o 'frobnicate': expected CVMFS_KEY=VALUE", {}],
      [[FQRN, m], "is already mounted here", {}],
    ];
    for (const [args, message, extra] of cases) {
      const r = await runFor([CVM, "mount", ...args], 30_000, { env: { ...env, ...extra } });
      expect({ args, code: r.code === 0 }).toEqual({ args, code: false });
      expect(r.stderr.split("\n").filter((l) => l.startsWith("cvm: "))).toHaveLength(1);
      expect(r.stderr).toContain(message);
      expect(r.stderr).not.toMatch(/internal error|TypeError|^\s+at /m);
      if (args[1] !== m) expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(` ${args[1]} `);
    }
  }, 120_000);

  test("umount: the daemon stops and the mountpoint is a plain directory again", async () => {
    const u = await runFor([CVM, "umount", m, "-v"], 15_000, { env });
    expect(u.code).toBe(0);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(` ${m} `);
    expect(existsSync(join(m, "f0.txt"))).toBe(false);
    const again = await runFor([CVM, "umount", m], 15_000, { env });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("not mounted");
  }, 60_000);
});
