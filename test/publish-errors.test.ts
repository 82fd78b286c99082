import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { CVM, cvm, run } from "./helpers/run";
import { RepositoryError } from "../src/cvmfs/errors";
import { publishRevision } from "../src/cvmfs/publish/sync";

// Whatever goes wrong with the source or the storage: one line naming the path
// and the side that failed, exit 1, and the previous revision untouched.
const FQRN = "errors.example.org";
const isRoot = process.getuid?.() === 0;
let work: string, src: string, storage: string, keys: string, env: Record<string, string>;
const manifest = () => readFileSync(join(storage, ".cvmfspublished"));
const read = (...args: string[]) => cvm(["fs", args[0], storage, "--fqrn", FQRN, "--keys", keys, ...args.slice(1)], { env });

/** Runs cvm unable to bypass file permissions: as root, without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH. */
const withoutOverride = (args: string[]) =>
  run([...(isRoot ? ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] : []), CVM, ...args], { env });
const canDropOverride = !isRoot || Bun.which("setpriv") !== null;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cvm-errors-"));
  src = join(work, "src"); storage = join(work, "srv"); keys = join(work, "keys");
  env = { CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state") };
  mkdirSync(join(src, "dir"), { recursive: true });
  writeFileSync(join(src, "dir", "file"), "published\n");
  for (const args of [["init", FQRN, "--storage", storage, "--keys", keys], ["sync", FQRN, src]]) {
    const r = await cvm(["publish", ...args], { env });
    if (r.code !== 0) throw new Error(r.stderr);
  }
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }), 60_000);

const library = (hooks: Parameters<typeof publishRevision>[1]) =>
  publishRevision({ fqrn: FQRN, source: src, storage, keysDir: keys, algorithm: "sha1", ttl: 240 }, hooks);

describe("source problems", () => {
  test.skipIf(!canDropOverride)("an unreadable file: one line naming it, nothing published", async () => {
    const file = join(src, "dir", "secret");
    writeFileSync(file, "no\n");
    chmodSync(file, 0);
    const before = manifest();
    try {
      const r = await withoutOverride(["publish", "sync", FQRN, src]);
      expect(r.stderr).toBe(`cvm: ${file}: cannot read: permission denied\n`);
      expect(r.code).toBe(1);
      expect(manifest().equals(before)).toBe(true);
    } finally {
      unlinkSync(file);
    }
  });

  test.skipIf(!canDropOverride)("an unreadable directory: one line naming it", async () => {
    const dir = join(src, "closed");
    mkdirSync(dir);
    chmodSync(dir, 0);
    try {
      const r = await withoutOverride(["publish", "sync", FQRN, src]);
      expect(r.stderr).toBe(`cvm: ${dir}: cannot read the directory: permission denied\n`);
      expect(r.code).toBe(1);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  test("a file that vanishes after the scan: one line naming it, nothing published", async () => {
    const file = join(src, "dir", "short-lived");
    writeFileSync(file, "here for the scan only\n");
    const before = manifest();
    const err = await library({ phase: (p) => { if (p === "content") unlinkSync(file); } }).catch((e) => e);
    expect(err).toBeInstanceOf(RepositoryError);
    expect(err.message).toBe(`${file}: vanished during the sync (it was there when the tree was scanned)`);
    expect(manifest().equals(before)).toBe(true);
  });

  test("a file that shrinks after the scan is published as it is then, with its size", async () => {
    const file = join(src, "dir", "shrinking");
    writeFileSync(file, "0123456789".repeat(100));
    try {
      const r = await library({ phase: (p) => { if (p === "content") truncateSync(file, 10); } });
      expect(r.filesIngested).toBe(1);
      expect((await read("cat", "/dir/shrinking")).stdout).toBe("0123456789");
      expect(JSON.parse((await read("stat", "/dir/shrinking", "--json")).stdout).size).toBe(10);
    } finally {
      unlinkSync(file);
    }
  });

  test("a source that is or contains the storage is refused (exit 2)", async () => {
    for (const source of [work, storage]) {
      const r = await cvm(["publish", "sync", FQRN, source], { env });
      expect(r.stderr.split("\n")[0]).toBe(`cvm: ${source}: contains the storage ${storage}; publish a directory that does not hold the storage`);
      expect(r.code).toBe(2);
    }
  });
});

describe("storage problems", () => {
  test.skipIf(!isRoot)("a full storage: one line naming the storage (not the file being read); a later publish and gc recover", async () => {
    const mnt = join(work, "small");
    mkdirSync(mnt);
    expect((await run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt])).code).toBe(0);
    try {
      const fqrn = "full.example.org", small = join(mnt, "srv"), source = join(work, "full-src");
      const e = { ...env, CVM_CONFIG_DIR: join(work, "config-full") };
      expect((await cvm(["publish", "init", fqrn, "--storage", small, "--keys", keys], { env: e })).code).toBe(0);
      mkdirSync(source);
      // incompressible, twice the space, in 1 MB files: some are stored whole before the disk fills
      for (let i = 0; i < 8; i++) writeFileSync(join(source, `part-${i}.bin`), randomBytes(1 << 20));
      const before = readFileSync(join(small, ".cvmfspublished"));
      const r = await cvm(["publish", "sync", fqrn, source], { env: e });
      expect(r.stderr).toBe(`cvm: ${small}: no space left on device while storing objects; free some space and publish again ('cvm publish gc' removes what this attempt stored)\n`);
      expect(r.code).toBe(1);
      expect(readFileSync(join(small, ".cvmfspublished")).equals(before)).toBe(true);
      const gc = await cvm(["publish", "gc", fqrn, "--json"], { env: e });
      expect(gc.code).toBe(0);
      expect(JSON.parse(gc.stdout).removed.length).toBeGreaterThan(0); // the files stored before the disk filled
      for (let i = 1; i < 8; i++) rmSync(join(source, `part-${i}.bin`));
      const again = await cvm(["publish", "sync", fqrn, source, "--json"], { env: e });
      expect(again.stderr).toBe("");
      expect(JSON.parse(again.stdout).revision).toBe(2);
    } finally {
      await run(["umount", mnt]);
    }
  }, 60_000);
});
