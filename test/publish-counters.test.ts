import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cvm } from "./helpers/run";
import { Repository } from "../src/cvmfs/repository";
import { DirectorySource } from "../src/cvmfs/source";
import { loadMasterKeys } from "../src/cvmfs/keys";
import { COUNTER_NAMES, type Counters } from "../src/cvmfs/dirent";
import { recountSelf } from "../src/cvmfs/counters";

// Statistics counters as upstream's checker wants them (spec §2.4): self_* counts a
// catalog's own rows; subtree_* counts only the nested catalogs below it.
const FQRN = "counters.example.org";
let work: string, src: string, storage: string, keys: string, env: Record<string, string>;

const counters = (partial: Partial<Counters>): Counters =>
  Object.fromEntries(COUNTER_NAMES.map((n) => [n, partial[n] ?? 0])) as Counters;

interface Stats { self: Counters; subtree: Counters; recounted: Counters; }

/** Every catalog of the current revision: its stored counters, and self_* recounted from its rows. */
async function catalogStats(): Promise<Map<string, Stats>> {
  const repo = await Repository.open({ source: new DirectorySource(storage), fqrn: FQRN, masterKeys: loadMasterKeys({ keysDir: keys }).map((k) => k.key), state: null });
  const out = new Map<string, Stats>();
  try {
    for await (const c of repo.catalogs()) {
      const s = c.reader.statistics();
      const pick = (prefix: string) => Object.fromEntries(COUNTER_NAMES.map((n) => [n, s[`${prefix}_${n}`]])) as Counters;
      out.set(c.mountpoint || "/", { self: pick("self"), subtree: pick("subtree"), recounted: recountSelf(c.reader) });
    }
  } finally {
    repo.close();
  }
  return out;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cvm-counters-"));
  src = join(work, "src"); storage = join(work, "srv"); keys = join(work, "keys");
  env = { CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state") };
  // /            root catalog: top.txt (5 B), link, mountpoints /a and /c
  // /a           nested: .cvmfscatalog, a.txt (3 B), sub/ with s.txt (2 B), mountpoint /a/b
  // /a/b         nested in nested: .cvmfscatalog, b1.txt (4 B), b2.txt (6 B), blink
  // /c           sibling: .cvmfscatalog, c.txt (7 B)
  mkdirSync(join(src, "a", "sub"), { recursive: true });
  mkdirSync(join(src, "a", "b"), { recursive: true });
  mkdirSync(join(src, "c"), { recursive: true });
  writeFileSync(join(src, "top.txt"), "hello");
  symlinkSync("top.txt", join(src, "link"));
  for (const d of ["a", "a/b", "c"]) writeFileSync(join(src, d, ".cvmfscatalog"), "");
  writeFileSync(join(src, "a", "a.txt"), "aaa");
  writeFileSync(join(src, "a", "sub", "s.txt"), "ss");
  writeFileSync(join(src, "a", "b", "b1.txt"), "bbbb");
  writeFileSync(join(src, "a", "b", "b2.txt"), "bbbbbb");
  symlinkSync("b1.txt", join(src, "a", "b", "blink"));
  writeFileSync(join(src, "c", "c.txt"), "ccccccc");
  for (const args of [["init", FQRN, "--storage", storage, "--keys", keys], ["sync", FQRN, src]]) {
    const r = await cvm(["publish", ...args], { env });
    if (r.code !== 0) throw new Error(r.stderr);
  }
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }), 60_000);

// Hand-computed. A mountpoint directory is a dir in its parent and (as the nested root) in its child.
const B_SELF = counters({ dir: 1, regular: 3, symlink: 1, file_size: 10 });
const A_SELF = counters({ dir: 3, regular: 3, file_size: 5, nested: 1 });
const C_SELF = counters({ dir: 1, regular: 2, file_size: 7 });
const ROOT_SELF = counters({ dir: 3, regular: 1, symlink: 1, file_size: 5, nested: 2 });
const ZERO = counters({});

describe("catalog statistics: subtree_* counts only the nested catalogs below", () => {
  test("three levels and a sibling: every catalog's self_* and subtree_* as computed by hand", async () => {
    const stats = await catalogStats();
    expect([...stats.keys()].sort()).toEqual(["/", "/a", "/a/b", "/c"]);
    expect(stats.get("/a/b")).toMatchObject({ self: B_SELF, subtree: ZERO });   // a leaf: all subtree_* are 0
    expect(stats.get("/c")).toMatchObject({ self: C_SELF, subtree: ZERO });
    // /a's subtree is /a/b alone
    expect(stats.get("/a")).toMatchObject({ self: A_SELF, subtree: B_SELF });
    // the root's subtree: /a (self + its subtree /a/b) and /c
    expect(stats.get("/")).toMatchObject({
      self: ROOT_SELF,
      subtree: counters({ dir: 3 + 1 + 1, regular: 3 + 3 + 2, symlink: 1, file_size: 5 + 10 + 7, nested: 1 }),
    });
  });

  test("recountSelf gives each catalog's self_* from its rows", async () => {
    for (const [mountpoint, s] of await catalogStats()) expect({ mountpoint, ...s.recounted }).toEqual({ mountpoint, ...s.self });
  });

  test("reused nested catalogs feed the parent the same numbers", async () => {
    writeFileSync(join(src, "c", "c.txt"), "ccccccccc"); // 9 bytes now; /a and /a/b do not change
    const r = await cvm(["publish", "sync", FQRN, src, "--json"], { env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ catalogsWritten: 2, catalogsReused: 2 });
    const stats = await catalogStats();
    expect(stats.get("/a")).toMatchObject({ self: A_SELF, subtree: B_SELF });
    expect(stats.get("/c")).toMatchObject({ self: counters({ dir: 1, regular: 2, file_size: 9 }), subtree: ZERO });
    expect(stats.get("/")).toMatchObject({
      self: ROOT_SELF,
      subtree: counters({ dir: 5, regular: 8, symlink: 1, file_size: 5 + 10 + 9, nested: 1 }),
    });
  }, 30_000);
});
