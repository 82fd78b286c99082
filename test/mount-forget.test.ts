// `cvm mount` honours the kernel's FORGET: a repository published by cvm,
// served by `cvm serve`, mounted with FUSE. The daemon holds the inodes the
// kernel holds; an older revision stays open only while the kernel or an open
// file still uses it, and keeps its catalogs open (pinned) only while a file
// or request reads in it, not for inodes alone. `echo 2 > drop_caches` makes the
// kernel forget what it does not use. Every access to the mount runs as a
// subprocess with a deadline; afterAll leaves nothing mounted or running.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CVM, cvm } from "./helpers/run";
import { CAN_MOUNT, cleanupMount, runFor, waitFor } from "./helpers/fuse";
import { startCvmServe, type CvmServe } from "./helpers/cvm-serve";

const FQRN = "forget.example.org";
const ready = CAN_MOUNT;
let work: string, src: string, m: string, env: Record<string, string>;
let server: CvmServe | undefined;
let mounted = false;

beforeAll(async () => {
  if (!ready) return; // every test is skipped (counted) below
  work = mkdtempSync(join(tmpdir(), "cvm-forget-"));
  src = join(work, "src"); m = join(work, "mnt");
  env = { CVM_CONFIG_DIR: join(work, "publisher"), CVM_STATE_DIR: join(work, "state"), CVM_CONFIG_ROOT: join(work, "etc"), CVM_RUNTIME_DIR: join(work, "run") };
  mkdirSync(join(src, "d"), { recursive: true });
  for (let i = 0; i < 30; i++) writeFileSync(join(src, "d", `f${i}`), `file ${i}\n`);
  writeFileSync(join(src, "held.txt"), "revision 2\n");
  for (const args of [["init", FQRN, "--storage", join(work, "srv"), "--keys", join(work, "keys")], ["sync", FQRN, src]]) {
    const r = await cvm(["publish", ...args], { env });
    if (r.code !== 0) throw new Error(r.stderr);
  }
  server = await startCvmServe([join(work, "srv")], env);
  mkdirSync(join(work, "etc"));
  // KCACHE 0: every path walk asks the daemon, so a new revision shows as soon as it is mounted.
  writeFileSync(join(work, "etc", "default.local"), [
    `CVMFS_SERVER_URL=${server.base}/cvmfs/@fqrn@`, "CVMFS_HTTP_PROXY=DIRECT", `CVMFS_KEYS_DIR=${join(work, "keys")}`,
    `CVMFS_CACHE_BASE=${join(work, "cache")}`, "CVMFS_KCACHE_TIMEOUT=0",
  ].join("\n") + "\n");
  mkdirSync(m);
  const r = await runFor([CVM, "mount", FQRN, m], 60_000, { env });
  if (r.code !== 0) throw new Error(r.stderr);
  mounted = true;
}, 120_000);

afterAll(async () => {
  if (mounted) {
    await runFor([CVM, "umount", m], 15_000, { env });
    await cleanupMount(m);
  }
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
}, 60_000);

const sh = (cmd: string) => runFor(["sh", "-c", cmd], 30_000, { env });
const talk = async (command: string) => {
  const r = await runFor([CVM, "fs", "talk", m, ...command.split(" ")], 15_000, { env });
  expect(r.stderr).toBe("");
  return r.stdout;
};
const dropCaches = () => sh("echo 2 > /proc/sys/vm/drop_caches");

/** Per open revision, as `talk cache` lists it: inodes the kernel holds, open files, pinned catalogs. */
interface OpenRevision { current: boolean; inodes: number; files: number; catalogs: string[] }
async function revisions(): Promise<Map<number, OpenRevision>> {
  const out = new Map<number, OpenRevision>();
  let last: OpenRevision | undefined;
  for (const line of (await talk("cache")).split("\n")) {
    const r = /^ {2}revision (\d+)( \(current\))?: (\d+) inodes?, (\d+) open files?$/.exec(line);
    if (r) out.set(Number(r[1]), last = { current: !!r[2], inodes: Number(r[3]), files: Number(r[4]), catalogs: [] });
    const c = /^ {4}([0-9a-f]{40}) \//.exec(line);
    if (c) last!.catalogs.push(c[1]);
  }
  return out;
}

/** A process holding `path` open; each line on its stdin makes it print the file again, read from offset 0. */
const holdOpen = (path: string) => pythonHolder([
  "import os, sys",
  "fd = os.open(sys.argv[1], os.O_RDONLY)",
  "for _ in sys.stdin: print(os.pread(fd, 4096, 0).decode().strip(), flush=True)",
], path);

/**
 * A process holding `path` by an O_PATH descriptor: the kernel keeps its inode
 * (no file is open). Each line on its stdin makes it open that very inode again
 * through /proc/self/fd (no lookup: no newer revision involved) and print its
 * inode number, the SHA-256 of its content and its user.chunks.
 */
const holdInode = (path: string) => pythonHolder([
  "import hashlib, os, sys",
  "fd = os.open(sys.argv[1], os.O_PATH)",
  "inode = f'/proc/self/fd/{fd}'",
  "for _ in sys.stdin:",
  "    with open(inode, 'rb') as f: digest = hashlib.sha256(f.read()).hexdigest()",
  "    print(os.stat(inode).st_ino, digest, os.getxattr(inode, 'user.chunks').decode(), flush=True)",
], path);

/** A python3 script given `arg`, answering one line per line on its stdin. */
function pythonHolder(script: string[], arg: string) {
  const p = Bun.spawn(["python3", "-c", script.join("\n"), arg], { stdin: "pipe", stdout: "pipe" });
  const reader = p.stdout.getReader();
  let buf = "";
  return {
    async read(): Promise<string> {
      p.stdin.write("x\n");
      await p.stdin.flush();
      const deadline = performance.now() + 15_000;
      while (!buf.includes("\n")) {
        if (performance.now() > deadline) throw new Error("the holder did not answer");
        const { value, done } = await reader.read();
        if (done) throw new Error("the holder exited");
        buf += new TextDecoder().decode(value);
      }
      const line = buf.slice(0, buf.indexOf("\n"));
      buf = buf.slice(buf.indexOf("\n") + 1);
      return line;
    },
    async close() { p.stdin.end(); await p.exited; },
    kill() { p.kill("SIGKILL"); },
  };
}

describe.skipIf(!ready)("cvm mount: FORGET", () => {
  test("the kernel's FORGETs release the inodes of the current revision; a path keeps its inode number", async () => {
    expect((await sh(`find '${m}' | wc -l`)).stdout.trim()).toBe("33");
    const held = (await revisions()).get(2)!;
    expect(held.current).toBe(true);
    expect(held.inodes).toBeGreaterThanOrEqual(33); // root, d, 30 files, held.txt: each looked up
    const before = (await sh(`stat -c %i '${m}/d/f3' '${m}/d'`)).stdout;
    // Forgotten by the kernel: the daemon lets them go too.
    await waitFor(async () => { await dropCaches(); return (await revisions()).get(2)!.inodes < 5; }, 20_000, "the kernel to forget the inodes");
    // Looked up again in the same revision: the same numbers.
    expect((await sh(`stat -c %i '${m}/d/f3' '${m}/d'`)).stdout).toBe(before);
    expect((await sh(`cat '${m}/d/f29'`)).stdout).toBe("file 29\n");
  }, 60_000);

  test("an older revision stays open while an open file uses it, and is closed (its catalog unpinned) once nothing does", async () => {
    const holder = holdOpen(join(m, "held.txt"));
    try {
      expect(await holder.read()).toBe("revision 2");
      writeFileSync(join(src, "held.txt"), "revision 3\n");
      mkdirSync(join(src, "new"));
      writeFileSync(join(src, "new", "x"), "new\n");
      expect((await cvm(["publish", "sync", FQRN, src], { env })).code).toBe(0);
      expect(await talk("remount")).toStartWith("new revision 3 ");
      expect((await sh(`cat '${m}/held.txt' '${m}/new/x'`)).stdout).toBe("revision 3\nnew\n");
      expect((await sh(`find '${m}' | wc -l`)).stdout.trim()).toBe("35");
      const both = await revisions();
      expect([...both.keys()]).toEqual([2, 3]);
      expect(both.get(3)!.current).toBe(true);
      expect(both.get(2)!.files).toBe(1);
      const oldCatalog = both.get(2)!.catalogs[0];
      expect(oldCatalog).toMatch(/^[0-9a-f]{40}$/);
      expect(both.get(3)!.catalogs).not.toContain(oldCatalog);
      // What the kernel does not use goes; the open file (its inode) keeps revision 2 open.
      await waitFor(async () => { await dropCaches(); return (await revisions()).get(2)!.inodes === 1; }, 20_000, "the kernel to forget revision 2's unused inodes");
      expect((await revisions()).get(2)).toEqual({ current: false, inodes: 1, files: 1, catalogs: [oldCatalog] });
      expect(await holder.read()).toBe("revision 2");
      await holder.close();
      // Closed and forgotten: revision 2 is closed, its catalog no longer pinned.
      await waitFor(async () => { await dropCaches(); return !(await revisions()).has(2); }, 20_000, "revision 2 to be closed");
      const cache = await talk("cache");
      expect(cache).not.toContain(oldCatalog);
      expect(cache).toMatch(/, 1 pinned\n/);
      expect((await sh(`cat '${m}/held.txt'`)).stdout).toBe("revision 3\n");
    } finally {
      holder.kill();
    }
  }, 90_000);

  test("an older revision only the kernel's inodes refer to has no catalog open; opening one of them reopens it and reads that revision's content", async () => {
    const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");
    // 20 MiB: more than the largest chunk (16 MiB), so chunked, and its chunk list is in the catalog only.
    const old = randomBytes(20 << 20);
    writeFileSync(join(src, "big.bin"), old);
    expect((await cvm(["publish", "sync", FQRN, src], { env })).code).toBe(0);
    expect(await talk("remount")).toStartWith("new revision 4 ");
    const holder = holdInode(join(m, "big.bin"));
    try {
      const [ino, digest, chunks] = (await holder.read()).split(" ");
      expect(digest).toBe(sha256(old));
      expect(Number(chunks)).toBeGreaterThanOrEqual(2);
      writeFileSync(join(src, "big.bin"), randomBytes(20 << 20));
      expect((await cvm(["publish", "sync", FQRN, src], { env })).code).toBe(0);
      expect(await talk("remount")).toStartWith("new revision 5 ");
      // Held by the kernel only: listed, with no catalog open or pinned.
      await waitFor(async () => { await dropCaches(); return (await revisions()).get(4)!.inodes === 1; }, 20_000, "the kernel to forget revision 4's unused inodes");
      expect((await revisions()).get(4)).toEqual({ current: false, inodes: 1, files: 0, catalogs: [] });
      // The same inode opened again: revision 4's content and chunk list, its catalog opened for that and closed after.
      expect(await holder.read()).toBe(`${ino} ${sha256(old)} ${chunks}`);
      // (The kernel sends RELEASE after close(2) has returned.)
      await waitFor(async () => (await revisions()).get(4)!.files === 0, 20_000, "the file to be released");
      expect((await revisions()).get(4)).toEqual({ current: false, inodes: 1, files: 0, catalogs: [] });
      expect((await sh(`cmp -s '${m}/big.bin' '${join(src, "big.bin")}' && echo same`)).stdout).toBe("same\n");
    } finally {
      holder.kill();
    }
    await waitFor(async () => { await dropCaches(); return !(await revisions()).has(4); }, 20_000, "revision 4 to be closed");
  }, 120_000);
});
