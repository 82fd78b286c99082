import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { cvm, run } from "./helpers/run";
import { describeTree, fileBytes, makeTree, setXattr } from "./helpers/tree";

const FQRN = "roundtrip.example.org";
let work: string, src: string, storage: string, keys: string, env: Record<string, string>;
let hasXattrs = false;

/** Whether the temp filesystem takes user xattrs, known before tests are registered so the xattr test is a counted skip. */
const xattrsSupported = (() => {
  const dir = mkdtempSync(join(tmpdir(), "cvm-xattr-probe-"));
  try {
    writeFileSync(join(dir, "probe"), "");
    return setXattr(join(dir, "probe"), "user.probe", "1");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();
let firstSync: any;

const countObjects = () => readdirSync(join(storage, "data")).filter((d) => d !== "txn").reduce((n, d) => n + readdirSync(join(storage, "data", d)).length, 0);
const fs = (...args: string[]) => cvm(["fs", ...args.slice(0, 1), storage, "--fqrn", FQRN, "--keys", keys, ...args.slice(1)], { env });
const sync = (...extra: string[]) => cvm(["publish", "sync", FQRN, src, "--json", ...extra], { env });

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cvm-publish-test-"));
  src = join(work, "src"); storage = join(work, "srv", FQRN); keys = join(work, "keys");
  env = { CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state") };
  hasXattrs = makeTree(src, { files: 3000, bigFileBytes: 100 * 1024 * 1024 }).xattrs;
  const init = await cvm(["publish", "init", FQRN, "--storage", storage, "--keys", keys], { env });
  if (init.code !== 0) throw new Error(init.stderr);
  const r = await sync("--xattrs");
  if (r.code !== 0) throw new Error(r.stderr);
  firstSync = JSON.parse(r.stdout);
}, 180_000);

afterAll(() => rmSync(work, { recursive: true, force: true }), 120_000);

describe("cvm publish + cvm fs: round trip", () => {
  test("init made the keys (private 0600), the storage skeleton and a readable revision 1", async () => {
    for (const f of [`${FQRN}.masterkey`, `${FQRN}.key`]) expect(statSync(join(keys, f)).mode & 0o777).toBe(0o600);
    for (const f of [`${FQRN}.pub`, `${FQRN}.crt`]) expect(existsSync(join(keys, f))).toBe(true);
    expect(readdirSync(join(storage, "data")).length).toBe(257);
    expect(firstSync.revision).toBe(2);
    expect(firstSync.catalogsWritten).toBe(4);
  });

  test("every file reads back with the same bytes and metadata (fs get of the whole tree)", async () => {
    const dest = join(work, "copy");
    const r = await fs("get", "/", dest);
    expect(r.stderr).toMatch(/files/);
    expect(r.code).toBe(0);
    const want = describeTree(src), got = describeTree(dest);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [path, meta] of want) {
      expect({ path, ...got.get(path) }).toEqual({ path, ...meta });
      if (meta.kind === "file") expect(fileBytes(dest, path).equals(fileBytes(src, path))).toBe(true);
    }
  }, 120_000);

  test("cat streams a file; ls lists names; stat shows the raw $(VAR) symlink and ownership", async () => {
    expect((await fs("cat", "/ünïcødé dir/日本語.txt")).stdout).toBe("こんにちは\n");
    const ls = await fs("ls", "/software");
    expect(ls.stdout.split("\n")).toEqual(expect.arrayContaining(["hl-a", "hl-b", "v1", "v2", "f1.txt"]));
    const st = JSON.parse((await fs("stat", "/varlink", "--json")).stdout);
    expect(st).toMatchObject({ type: "symlink", symlink: "/cvmfs/$(CVM_TEST_ARCH:-x86_64)/lib", uid: process.getuid!(), gid: process.getgid!() });
    const f1 = JSON.parse((await fs("stat", "/software/f1.txt", "--json")).stdout);
    expect(f1.mtime).toBe("2001-02-03T04:05:06.789Z"); // nanoseconds kept (schema revision 7)
  });

  test("the 100 MB file is chunked into P objects that cover it", async () => {
    const st = JSON.parse((await fs("stat", "/software/v1/big.bin", "--json")).stdout);
    expect(st.chunked).toBe(true);
    expect(st.chunks.length).toBeGreaterThanOrEqual(5);
    let offset = 0;
    for (const c of st.chunks) {
      expect(c.offset).toBe(offset);
      expect(c.size).toBeLessThanOrEqual(16 * 1024 * 1024);
      expect(existsSync(join(storage, "data", c.hash.slice(0, 2), c.hash.slice(2) + "P"))).toBe(true);
      offset += c.size;
    }
    expect(offset).toBe(100 * 1024 * 1024);
  });

  test("hardlinks share a group", async () => {
    const a = JSON.parse((await fs("stat", "/software/hl-a", "--json")).stdout);
    const c = JSON.parse((await fs("stat", "/software/hl-c", "--json")).stdout);
    expect(a.links).toBe(3);
    expect(a.hardlinkGroup).toBeGreaterThan(0);
    expect(c.hardlinkGroup).toBe(a.hardlinkGroup);
  });

  test.skipIf(!xattrsSupported)("xattrs are published with --xattrs", async () => {
    expect(hasXattrs).toBe(true); // makeTree set them
    expect(JSON.parse((await fs("stat", "/script.sh", "--json")).stdout).xattrs).toEqual({ "user.purpose": "greeting" });
    expect(JSON.parse((await fs("stat", "/data", "--json")).stdout).xattrs).toEqual({ "user.owner": "physics" });
  });

  test("find walks across nested catalogs; --name and --type filter", async () => {
    const all = (await fs("find")).stdout.trim().split("\n");
    expect(all.length).toBe(describeTree(src).size);
    const big = (await fs("find", "/", "--name", "big.*", "--type", "f")).stdout;
    expect(big).toBe("/software/v1/big.bin\n");
  });

  test("verify checks every object and counts them", async () => {
    const r = await fs("verify", "--json");
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.failures).toEqual([]);
    expect(rep.catalogs).toBe(4);
    expect(rep.objects).toBeGreaterThan(600); // distinct content (text bodies repeat) + chunks + catalogs + certificate + history
  });

  test("info names the revision, TTL, whitelist expiry and tags", async () => {
    const info = JSON.parse((await fs("info", "--json")).stdout);
    expect(info.revision).toBe(2);
    expect(info.ttl).toBe(240);
    expect(info.tags.map((t: any) => t.name)).toEqual(expect.arrayContaining(["trunk", "trunk-previous"]));
    expect(new Date(info.whitelistExpires).getTime() - Date.now()).toBeGreaterThan(29 * 86400_000);
  });

  test("a changed tree: only changed content is stored; unchanged nested catalogs are reused; the old revision still reads", async () => {
    const before = countObjects();
    const oldRoot = JSON.parse((await fs("info", "--json")).stdout).rootHash;
    appendFileSync(join(src, "data", "f4.txt"), "one more line\n");
    writeFileSync(join(src, "data", "brand-new.txt"), randomBytes(1000));
    const removedBody = readFileSync(join(src, "f0.txt"));
    unlinkSync(join(src, "f0.txt"));
    const r = await sync("--tag", "second");
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.revision).toBe(3);
    expect(res.filesIngested).toBe(2);
    expect(res.newObjects).toBe(2);
    expect(res.catalogsWritten).toBe(2);  // the root (always) and /data
    expect(res.catalogsReused).toBe(2);   // /software/v1 and /software/v2 untouched
    // new objects: 2 contents + 2 catalogs + history (the certificate is unchanged)
    expect(countObjects() - before).toBe(5);
    expect((await fs("cat", "/f0.txt")).code).toBe(1);
    const all = await fs("verify", "--all", "--json");
    expect(JSON.parse(all.stdout).revisions).toEqual(expect.arrayContaining([1, 2, 3]));
    // the old revision, read through the library
    const { Repository } = await import("../src/cvmfs/client/repository");
    const { DirectorySource } = await import("../src/cvmfs/client/source");
    const { loadMasterKeys } = await import("../src/cvmfs/format/keys");
    const { parseHex } = await import("../src/cvmfs/format/hash");
    const repo = await Repository.open({ source: new DirectorySource(storage), fqrn: FQRN, masterKeys: loadMasterKeys({ keysDir: keys }).map((k) => k.key), state: null });
    const old = await repo.atRoot(parseHex(oldRoot));
    const pieces: Uint8Array[] = [];
    for await (const p of old.content(await old.stat("/f0.txt"))) pieces.push(p);
    expect(Buffer.concat(pieces).equals(removedBody)).toBe(true);
    old.close(); repo.close();
  }, 60_000);

  test("publishing an unchanged tree reads no file and stores no content", async () => {
    const r = JSON.parse((await sync()).stdout);
    expect(r.filesIngested).toBe(0);
    expect(r.newObjects).toBe(0);
    expect(r.catalogsReused).toBe(3);
  }, 60_000);

  test("sockets, fifos and devices are refused with their path; nothing is published", async () => {
    const manifest = readFileSync(join(storage, ".cvmfspublished"));
    const fifo = join(src, "a-fifo");
    expect((await run(["mkfifo", fifo])).code).toBe(0);
    try {
      const r = await sync();
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`cvm: ${fifo}: is a fifo; only files, directories and symlinks can be published\n`);
      expect(readFileSync(join(storage, ".cvmfspublished")).equals(manifest)).toBe(true);
      expect(existsSync(join(storage, ".cvm_publish.lock"))).toBe(false);
    } finally {
      unlinkSync(fifo);
    }
  });

  test("a second publisher on the same storage is refused", async () => {
    // A real holder of the lock, as another publisher (or flock(1) in an operator's script) holds it.
    const lock = join(storage, ".cvm_publish.lock");
    // It holds the lock until its stdin closes: nothing of it outlives the test (a sleeping child would keep CI's pipe open).
    const holder = Bun.spawn(["flock", "-n", "-o", lock, "sh", "-c", "echo held; exec head -c 1 > /dev/null"], { stdin: "pipe", stdout: "pipe", stderr: "ignore" });
    try {
      const reader = holder.stdout.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toBe("held\n");
      const r = await sync();
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("another publish is running (locked by pid ");
      expect(r.stderr).toContain("try again when it has finished");
    } finally {
      holder.stdin.end();
      await holder.exited;
    }
  });
});
