import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cvm } from "./helpers/run";
import { Repository } from "../src/cvmfs/client/repository";
import { DirectorySource } from "../src/cvmfs/client/source";
import { loadMasterKeys } from "../src/cvmfs/format/keys";
import { COUNTER_NAMES, type Counters } from "../src/cvmfs/format/dirent";
import { counterMismatches, recountSelf, storedCounters, subtreeOf } from "../src/cvmfs/format/counters";
import { Database } from "bun:sqlite";
import { readFileSync } from "node:fs";
import { inflateSync } from "node:zlib";
import { CatalogReader } from "../src/cvmfs/format/catalog-reader";
import { hashBytes, objectPath } from "../src/cvmfs/format/hash";
import { buildCatalog, type BuildContext, type BuiltCatalog, type PreviousCatalog } from "../src/cvmfs/publish/catalogs";
import { LocalStorage } from "../src/cvmfs/publish/storage";
import type { SourceNode } from "../src/cvmfs/publish/tree";

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

  test("recountSelf gives each catalog's self_* from its rows; subtreeOf each subtree_* from the nested catalogs' counters", async () => {
    const stats = await catalogStats();
    for (const [mountpoint, s] of stats) expect({ mountpoint, ...s.recounted }).toEqual({ mountpoint, ...s.self });
    expect(subtreeOf([stats.get("/a")!, stats.get("/c")!])).toEqual(stats.get("/")!.subtree);
    expect(subtreeOf([])).toEqual(ZERO);
    // what verify reports for an inclusive count, in upstream's words
    const inclusive = storedCounters({ subtree_dir: 1, subtree_regular: 3, subtree_symlink: 1, subtree_file_size: 10 }).subtree;
    expect(counterMismatches("subtree", ZERO, inclusive)).toEqual([
      "subtree_regular (expected: 0 / in catalog: 3)", "subtree_symlink (expected: 0 / in catalog: 1)",
      "subtree_dir (expected: 0 / in catalog: 1)", "subtree_file_size (expected: 0 / in catalog: 10)",
    ]);
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

describe("a previous catalog whose counters do not add up", () => {
  // / with a nested catalog /n holding one file, built directly (no scan).
  const node = (path: string, kind: "dir" | "file", children?: SourceNode[]): SourceNode => ({
    path, name: path.slice(path.lastIndexOf("/") + 1), abs: "", kind, mode: kind === "dir" ? 0o40755 : 0o100644, uid: 0, gid: 0,
    size: kind === "dir" ? 4096 : 3, mtime: 1_700_000_000, mtimeNs: 0, dev: 1n, ino: 1n, nlink: 1, children, catalogRoot: kind === "dir",
  });
  const tree = () => node("", "dir", [node("/n", "dir", [node("/n/f", "file")])]);
  const context = (store: LocalStorage, revision: number, previous: Map<string, PreviousCatalog>): BuildContext => ({
    content: new Map([["/n/f", { hash: hashBytes("sha1", "f"), compressed: true }]]), previous, storage: store,
    algorithm: "sha1", revision, ttl: 240, now: 1_700_000_000, workDir: store.workDir, catalogFiles: 0,
  });

  test("is written again, not reused (a catalog from a writer that counted subtree_* inclusively)", () => {
    const store = new LocalStorage(join(work, "unit"));
    store.createSkeleton();
    mkdirSync(store.workDir);
    const nested: BuiltCatalog[] = [];
    buildCatalog(tree(), { ...context(store, 1, new Map()), onBuilt: (c) => { if (c.path === "/n") nested.push(c); } });
    // the /n catalog as published, and a copy with an inclusive subtree_dir as older cvm wrote it
    const file = (name: string) => {
      const f = join(work, name);
      writeFileSync(f, inflateSync(readFileSync(join(store.root, objectPath(nested[0].hash, "C")))));
      return f;
    };
    const good = file("n-good.sqlite"), stale = file("n-stale.sqlite");
    const db = new Database(stale);
    db.run("UPDATE statistics SET value = 1 WHERE counter = 'subtree_dir'");
    db.close();
    const previous = (f: string) => new Map([["/n", { reader: CatalogReader.open(f, f), hash: nested[0].hash, size: nested[0].size }]]);
    const written = (f: string) => {
      const out = new Map<string, boolean>();
      buildCatalog(tree(), { ...context(store, 2, previous(f)), onBuilt: (c) => out.set(c.path, c.written) });
      return out.get("/n");
    };
    expect(written(good)).toBe(false); // unchanged and consistent: reused
    expect(written(stale)).toBe(true); // unchanged rows, wrong counters: written again
  });
});
