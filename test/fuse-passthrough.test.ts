// FUSE passthrough (Linux ≥ 6.9, root): a file opened with a passthroughFd is
// read by the kernel from the backing file, so its reads never reach the
// filesystem; forced off, the same content comes through READ.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { join } from "node:path";
import { startFuse, type FuseHandle } from "../src/fuse/server";
import { CAN_MOUNT, cleanupMount, runFor } from "./helpers/fuse";
import { MemoryFs, pattern } from "./helpers/memory-fs";

const [major, minor] = release().split(".").map(Number);
const KERNEL_PASSTHROUGH = major > 6 || (major === 6 && minor >= 9);
const SIZE = 8 * 1024 * 1024 + 12345;
const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

/** This process's descriptors open on `path`. */
const openOn = (path: string) => readdirSync("/proc/self/fd").filter((fd) => { try { return readlinkSync(`/proc/self/fd/${fd}`) === path; } catch { return false; } }).length;

function tree(base: string) {
  const content = pattern(SIZE, 7);
  const backing = join(base, "backing.bin");
  writeFileSync(backing, content);
  const fs = new MemoryFs();
  const cached = fs.file("cached.bin", content, { backingPath: backing });
  const plain = fs.file("plain.bin", content.subarray(0, 100_000));
  return { fs, cached, plain, content, backing };
}

/** Reads through the mount: whole file, 4 KiB blocks at fixed offsets, mmap, and two opens at once. */
async function readAll(path: string): Promise<{ sha: string; blocks: string; mmap: string; twice: string }> {
  const sha = (await runFor(["sha256sum", path], 60_000)).stdout.split(" ")[0];
  const blocks = await runFor(["python3", "-c", `
import sys, hashlib
h = hashlib.sha256()
with open(sys.argv[1], "rb", buffering=0) as f:
    for off in range(0, ${SIZE}, 4096 * 37):
        f.seek(off); h.update(f.read(4096))
print(h.hexdigest())`, path], 60_000);
  const mmap = await runFor(["python3", "-c", "import sys, mmap, hashlib\nwith open(sys.argv[1], 'rb') as f:\n    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\n    print(hashlib.sha256(m[:]).hexdigest())", path], 60_000);
  const twice = await runFor(["python3", "-c", "import sys\na = open(sys.argv[1], 'rb'); b = open(sys.argv[1], 'rb')\nb.seek(5000)\nprint(a.read(10).hex(), b.read(10).hex())", path], 60_000);
  for (const r of [blocks, mmap, twice]) expect(r.stderr).toBe("");
  return { sha, blocks: blocks.stdout.trim(), mmap: mmap.stdout.trim(), twice: twice.stdout.trim() };
}

function expected(content: Uint8Array) {
  const h = new Bun.CryptoHasher("sha256");
  for (let off = 0; off < SIZE; off += 4096 * 37) h.update(content.subarray(off, off + 4096));
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
  return { sha: sha256(content), blocks: h.digest("hex"), mmap: sha256(content), twice: `${hex(content.subarray(0, 10))} ${hex(content.subarray(5000, 5010))}` };
}

describe.skipIf(!CAN_MOUNT || !KERNEL_PASSTHROUGH)("FUSE passthrough", () => {
  let base = "";
  const mounted: FuseHandle[] = [];

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), "cvm-fuse-pass-"));
  });

  afterAll(async () => {
    for (const h of mounted) await h.stop();
    for (const name of ["on", "off"]) await cleanupMount(join(base, name));
    if (base) rmSync(base, { recursive: true, force: true });
  }, 30_000);

  test("on: the kernel reads the backing file; no READ reaches the session or the filesystem", async () => {
    const { fs, cached, plain, content, backing } = tree(base);
    const mp = join(base, "on");
    mkdirSync(mp);
    const verbose: string[] = [];
    const h = await startFuse(mp, fs, { fsname: "cvmfs2", verbose: (l) => verbose.push(l) });
    mounted.push(h);
    expect(h.passthrough).toBe(true);
    expect(verbose).toEqual([expect.stringContaining("passthrough on")]);
    expect(await readAll(join(mp, "cached.bin"))).toEqual(expected(content));
    expect(fs.calls.open).toBeGreaterThanOrEqual(4);
    expect(fs.reads.get(cached)).toBeUndefined();
    expect(h.requests.READ).toBeUndefined();
    // Only the first close asked the daemon to FLUSH: its ENOSYS told the kernel not to ask again.
    expect(h.requests.FLUSH).toBe(1);
    // A file without a backing descriptor still reads through the daemon on the same mount.
    expect((await runFor(["sha256sum", join(mp, "plain.bin")])).stdout.split(" ")[0]).toBe(sha256(content.subarray(0, 100_000)));
    expect(fs.reads.get(plain)).toBeGreaterThan(0);
    // Every backing descriptor handed over was closed by the session.
    expect(openOn(backing)).toBe(0);
    expect(h.passthrough).toBe(true);
  }, 120_000);

  test("forced off: the same content comes through READ", async () => {
    const { fs, cached, content, backing } = tree(base);
    const mp = join(base, "off");
    mkdirSync(mp);
    const h = await startFuse(mp, fs, { fsname: "cvmfs2", passthrough: false });
    mounted.push(h);
    expect(h.passthrough).toBe(false);
    expect(h.passthroughOff).toBe("disabled");
    expect(await readAll(join(mp, "cached.bin"))).toEqual(expected(content));
    expect(fs.reads.get(cached)).toBeGreaterThan(0);
    expect(h.requests.READ).toBeGreaterThan(0);
    expect(openOn(backing)).toBe(0);
  }, 120_000);
});
