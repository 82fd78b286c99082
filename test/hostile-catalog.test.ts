// Catalogs and manifests signed with the repository's own key but written to
// hurt: the reader must refuse each with one line naming the catalog and the
// path, in bounded time and memory, and `verify` must find what `get` refuses.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Database } from "bun:sqlite";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { md5Pair } from "../src/cvmfs/format/md5path";
import { hashBytes, toHex } from "../src/cvmfs/format/hash";
import { cvm } from "./helpers/run";
import { publishManifest, putObject, readManifest, rewriteCatalogs, type HostileRepo } from "./helpers/hostile-repo";

const FQRN = "catalogs.example.org";
let work: string, pristine: HostileRepo, env: Record<string, string>;
let caseNo = 0;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cvm-hostile-catalog-"));
  pristine = { storage: join(work, "storage"), keys: join(work, "keys"), fqrn: FQRN };
  env = { CVM_CONFIG_DIR: join(work, "config") };
  const src = join(work, "src");
  mkdirSync(join(src, "sub", "deeper"), { recursive: true });
  writeFileSync(join(src, "hello.txt"), "hello, world\n");
  writeFileSync(join(src, "sub", ".cvmfscatalog"), "");
  writeFileSync(join(src, "sub", "inner.txt"), "nested\n");
  writeFileSync(join(src, "sub", "deeper", "x.txt"), "x\n");
  for (const args of [["init", FQRN, "--storage", pristine.storage, "--keys", pristine.keys], ["sync", FQRN, src]]) {
    const r = await cvm(["publish", ...args], { env });
    if (r.code !== 0) throw new Error(r.stderr);
  }
}, 60_000);

afterAll(() => rmSync(work, { recursive: true, force: true }), 60_000);

/** A private copy of the repository with its own rollback state. */
function copy(): HostileRepo & { state: string } {
  const dir = join(work, `case-${++caseNo}`);
  cpSync(pristine.storage, join(dir, "storage"), { recursive: true });
  return { ...pristine, storage: join(dir, "storage"), state: join(dir, "state") };
}

const fs = (r: HostileRepo & { state: string }, args: string[]) =>
  cvm(["fs", args[0], r.storage, "--fqrn", FQRN, "--keys", r.keys, ...args.slice(1)], { env: { ...env, CVM_STATE_DIR: r.state } });

function refused(r: { code: number; stdout: string; stderr: string }, message: string | RegExp) {
  expect(r.code).toBe(1);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr).not.toMatch(/internal error|TypeError|RangeError|Invalid Date|^\s+at /m);
  if (typeof message === "string") expect(r.stderr).toContain(message);
  else expect(r.stderr).toMatch(message);
}

const whereIs = (path: string) => md5Pair(path);
const setRow = (db: Database, path: string, sql: string, ...values: unknown[]) =>
  db.run(`UPDATE catalog SET ${sql} WHERE md5path_1 = ? AND md5path_2 = ?`, [...values, ...whereIs(path)] as never[]);

describe("hostile catalog values: one line naming the catalog and the path", () => {
  test("a content hash of the wrong length", async () => {
    const r = copy();
    rewriteCatalogs(r, { "": (db) => setRow(db, "/hello.txt", "hash = ?", new Uint8Array(7)) });
    refused(await fs(r, ["cat", "/hello.txt"]), /catalog [0-9a-f]{40} \(\/\): \/hello\.txt: the content hash is not a 20-byte sha1 digest/);
  });

  test("a missing table", async () => {
    const r = copy();
    rewriteCatalogs(r, { "/sub": (db) => db.run("DROP TABLE chunks") });
    refused(await fs(r, ["ls", "/sub"]), /catalog [0-9a-f]{40} \(\/sub\): not a readable catalog \(no such table: chunks\)/);
  });

  test("a mtime that is not a number, or not a date", async () => {
    let r = copy();
    rewriteCatalogs(r, { "": (db) => setRow(db, "/hello.txt", "mtime = ?", "yesterday") });
    refused(await fs(r, ["ls", "-l", "/"]), `/hello.txt: bad mtime "yesterday"`);
    r = copy();
    rewriteCatalogs(r, { "": (db) => setRow(db, "/hello.txt", "mtime = ?", 9_007_199_254_740_991) });
    refused(await fs(r, ["stat", "/hello.txt"]), `/hello.txt: bad mtime "9007199254740991"`);
  });

  test("a NUL byte in a symlink target", async () => {
    const r = copy();
    rewriteCatalogs(r, { "": (db) => setRow(db, "/hello.txt", "flags = 4 | 8, symlink = ?", "a\0b") });
    refused(await fs(r, ["ls", "-l", "/"]), "/hello.txt: the symlink target contains a NUL byte");
  });

  test("two entries with the same name, and names that are not one path component", async () => {
    let r = copy();
    rewriteCatalogs(r, { "": (db) => {
      const [a, b] = md5Pair("/twin");
      db.run("INSERT INTO catalog SELECT ?, ?, parent_1, parent_2, hardlinks, hash, size, mode, mtime, mtimens, flags, name, symlink, uid, gid, xattr FROM catalog WHERE md5path_1 = ? AND md5path_2 = ?",
        [a, b, ...md5Pair("/hello.txt")]);
    } });
    refused(await fs(r, ["ls", "/"]), `two entries are named "hello.txt"`);
    r = copy();
    rewriteCatalogs(r, { "": (db) => setRow(db, "/hello.txt", "name = ?", "../../escape") });
    refused(await fs(r, ["ls", "/"]), `an entry has the unsafe name "../../escape"`);
  });
});

describe("nested catalog references", () => {
  test("a nested catalog that does not lie below its parent, or is its parent", async () => {
    // /sub has no nested catalogs of its own: give it one that points at the root catalog.
    let r = copy();
    const root = readManifest(r).rootHash;
    rewriteCatalogs(r, { "/sub": (db) => db.run("INSERT INTO nested_catalogs (path, sha1, size) VALUES ('/sub', ?, 0)", [toHex(root)]) });
    refused(await fs(r, ["ls", "/sub"]), "nested catalog /sub does not lie below /sub");
    r = copy();
    rewriteCatalogs(r, { "/sub": (db) => db.run("INSERT INTO nested_catalogs (path, sha1, size) VALUES ('/other/place', ?, 0)", [toHex(root)]) });
    refused(await fs(r, ["find", "/"]), "nested catalog /other/place does not lie below /sub");
  });

  test("a catalog attached at a path it is not for", async () => {
    const r = copy();
    // /sub2 points at /sub's catalog: its root entry is /sub, not /sub2.
    rewriteCatalogs(r, { "": (db) => {
      db.run("INSERT INTO nested_catalogs (path, sha1, size) SELECT '/sub2', sha1, size FROM nested_catalogs WHERE path = '/sub'");
      const [a, b] = md5Pair("/sub2");
      db.run("INSERT INTO catalog SELECT ?, ?, parent_1, parent_2, hardlinks, hash, size, mode, mtime, mtimens, flags, 'sub2', symlink, uid, gid, xattr FROM catalog WHERE md5path_1 = ? AND md5path_2 = ?",
        [a, b, ...md5Pair("/sub")]);
    } });
    refused(await fs(r, ["ls", "/sub2"]), /\(\/sub2\): has no root directory entry for \/sub2: not the catalog of that path/);
  });

  test("a 40-level diamond is refused at once instead of 2^40 attaches", async () => {
    const r = copy();
    // Each level names the next level's catalog twice (two paths, one hash), as a hostile publisher can.
    const m = readManifest(r);
    const inner = readFileSync(join(r.storage, "data", toHex(m.rootHash).slice(0, 2), toHex(m.rootHash).slice(2) + "C"));
    let hash = hashBytes("sha1", inner);
    for (let level = 0; level < 40; level++) {
      const h = hash;
      const { Database } = await import("bun:sqlite");
      const file = join(work, `diamond-${caseNo}-${level}.sqlite`);
      writeFileSync(file, inflateSync(inner));
      const db = new Database(file);
      db.run("DELETE FROM nested_catalogs");
      for (const p of ["/sub/a", "/sub/b"]) db.run("INSERT INTO nested_catalogs (path, sha1, size) VALUES (?, ?, 0)", [p, toHex(h)]);
      db.close();
      hash = putObject(r, readFileSync(file), "C");
    }
    publishManifest(r, { ...m, rootHash: hash, revision: m.revision + 1, publishedAt: (m.publishedAt ?? 0) + 1 });
    const t0 = performance.now();
    const v = await fs(r, ["verify"]);
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/does not lie below|not the catalog of that path/);
    expect(v.stderr).not.toMatch(/internal error|TypeError|RangeError/);
  }, 30_000);

  test("nesting deeper than 64 catalogs is refused", async () => {
    const src = join(work, "deep-src");
    let dir = src;
    for (let i = 0; i < 66; i++) { dir = join(dir, `d${i}`); mkdirSync(dir, { recursive: true }); writeFileSync(join(dir, ".cvmfscatalog"), ""); }
    writeFileSync(join(dir, "bottom.txt"), "bottom\n");
    const deep = { storage: join(work, "deep-storage"), keys: pristine.keys, fqrn: FQRN, state: join(work, "deep-state") };
    for (const args of [["init", FQRN, "--storage", deep.storage, "--keys", deep.keys], ["sync", FQRN, src, "--storage", deep.storage]]) {
      const p = await cvm(["publish", ...args], { env: { ...env, CVM_CONFIG_DIR: join(work, "deep-config") } });
      expect(p.stderr).not.toContain("internal error");
      expect(p.code).toBe(0);
    }
    refused(await fs(deep, ["find", "/"]), "nested more than 64 levels deep");
  }, 60_000);
});

describe("verify checks everything get checks", () => {
  /** /hello.txt made a chunked file with the given chunk layout (offset, text). */
  const chunked = (r: HostileRepo, pieces: [number, string][], size = 13) =>
    rewriteCatalogs(r, { "": (db) => {
      const [a, b] = md5Pair("/hello.txt");
      setRow(db, "/hello.txt", "flags = flags | 64, size = ?", size);
      for (const [offset, text] of pieces) {
        const h = putObject(r, new TextEncoder().encode(text), "P");
        db.run("INSERT INTO chunks (md5path_1, md5path_2, offset, size, hash) VALUES (?, ?, ?, ?, ?)", [a, b, offset, text.length, h.digest]);
      }
      // Keep the statistics true, so only the layout is wrong.
      for (const [counter, add] of [["self_chunked", 1], ["self_chunked_size", size], ["self_chunks", pieces.length], ["self_file_size", size - 13]] as const)
        db.run("UPDATE statistics SET value = value + ? WHERE counter = ?", [add, counter]);
    } });

  test("a well-formed chunked file reads and verifies", async () => {
    const r = copy();
    chunked(r, [[0, "hello, "], [7, "world\n"]]);
    expect((await fs(r, ["cat", "/hello.txt"])).stdout).toBe("hello, world\n");
    expect((await fs(r, ["verify"])).code).toBe(0);
  });

  for (const [name, pieces, message] of [
    ["overlapping chunks", [[0, "hello, w"], [7, "world\n"]], "chunk list has a overlap at offset 8"],
    ["a gap between chunks", [[0, "hello,"], [7, "world\n"]], "chunk list has a gap at offset 6"],
    ["chunks that do not cover the size", [[0, "hello, "]], "chunks cover 7 bytes, the catalog says 13"],
  ] as const) {
    test(`${name}: get and verify both refuse`, async () => {
      const r = copy();
      chunked(r, pieces.map(([o, t]) => [o, t]));
      refused(await fs(r, ["cat", "/hello.txt"]), `/hello.txt: ${message}`);
      const v = await fs(r, ["verify"]);
      expect(v.code).toBe(1);
      expect(v.stderr).toContain(`cvm: /hello.txt: ${message}`);
    });
  }

  test("a size that does not match the content", async () => {
    const r = copy();
    rewriteCatalogs(r, { "": (db) => setRow(db, "/hello.txt", "size = 14") });
    refused(await fs(r, ["cat", "/hello.txt"]), "/hello.txt: content has 13 bytes, the catalog says 14");
    const v = await fs(r, ["verify"]);
    expect(v.code).toBe(1);
    expect(v.stderr).toContain("/hello.txt: content has 13 bytes, the catalog says 14");
  });

  test("a compression flag that does not match the object", async () => {
    const r = copy();
    rewriteCatalogs(r, { "": (db) => setRow(db, "/hello.txt", "flags = flags | ?", 1 << 11) }); // "stored raw", but the object is zlib
    const v = await fs(r, ["verify"]);
    expect(v.code).toBe(1);
    // Stored raw, 13 bytes of content may take 13 bytes on disk and no more.
    const object = JSON.parse((await fs(r, ["stat", "/hello.txt", "--json"])).stdout).hash as string;
    const tooLong = new RegExp(`data/${object.slice(0, 2)}/${object.slice(2)}: \\d+ bytes, more than the 13 bytes allowed for it`);
    expect(v.stderr).toMatch(tooLong);
    refused(await fs(r, ["cat", "/hello.txt"]), tooLong);
  });

  test("a signed zlib bomb stops inflating at the size the catalog gives", async () => {
    const r = copy();
    const bomb = putObject(r, new Uint8Array(256 << 20)); // 256 MiB of zeros, about 256 KiB stored
    rewriteCatalogs(r, { "": (db) => setRow(db, "/hello.txt", "hash = ?, size = ?", bomb.digest, 300_000) });
    const t0 = performance.now();
    refused(await fs(r, ["cat", "/hello.txt"]), "inflates to more than the 300000 bytes expected");
    expect(performance.now() - t0).toBeLessThan(5000);
    const v = await fs(r, ["verify"]);
    expect(v.stderr).toContain("inflates to more than the 300000 bytes expected");
  }, 30_000);

  test("statistics counters are recounted: an inclusive subtree count (the old writer's bug) is named", async () => {
    const r = copy();
    rewriteCatalogs(r, { "/sub": (db) => db.run("UPDATE statistics SET value = value + 1 WHERE counter = 'subtree_dir'") });
    const v = await fs(r, ["verify"]);
    expect(v.code).toBe(1);
    expect(v.stderr).toContain("cvm: catalog /sub: statistics counter subtree_dir is 1, expected 0");
    const r2 = copy();
    rewriteCatalogs(r2, { "": (db) => db.run("UPDATE statistics SET value = value + 2 WHERE counter = 'self_regular'") });
    expect((await fs(r2, ["verify"])).stderr).toMatch(/catalog \/: statistics counter self_regular is \d+, expected \d+/);
  });

  test("a nested catalog named but without its mountpoint directory", async () => {
    const r = copy();
    rewriteCatalogs(r, { "": (db) => setRow(db, "/sub", "flags = flags & ~2") });
    const v = await fs(r, ["verify"]);
    expect(v.code).toBe(1);
    expect(v.stderr).toContain("catalog /: nested catalog /sub has no mountpoint directory in this catalog");
  });
});

describe("the rollback breadcrumb cannot be poisoned", () => {
  test("a signed manifest with an absurd timestamp is refused and not recorded", async () => {
    const r = copy();
    expect((await fs(r, ["ls", "/"])).code).toBe(0); // records the good breadcrumb
    const crumb = join(r.state, "breadcrumbs", FQRN);
    const before = readFileSync(crumb, "utf8");
    const good = readFileSync(join(r.storage, ".cvmfspublished"));
    const m = readManifest(r);
    publishManifest(r, { ...m, publishedAt: 9007199254740991, revision: m.revision + 1 });
    refused(await fs(r, ["ls", "/"]), "field T '9007199254740991' is not a publication time");
    expect(readFileSync(crumb, "utf8")).toBe(before);
    writeFileSync(join(r.storage, ".cvmfspublished"), good);
    expect((await fs(r, ["ls", "/"])).code).toBe(0);
  });

  test("a corrupt breadcrumb is a clear error that says how to reset it", async () => {
    const r = copy();
    mkdirSync(join(r.state, "breadcrumbs"), { recursive: true });
    const crumb = join(r.state, "breadcrumbs", FQRN);
    writeFileSync(crumb, "0123T9007199254740991R1\n");
    refused(await fs(r, ["ls", "/"]), `the rollback breadcrumb of ${FQRN} is corrupt`);
    expect((await fs(r, ["ls", "/"])).stderr).toContain(`rm '${crumb}'`);
    rmSync(crumb);
    expect((await fs(r, ["ls", "/"])).code).toBe(0);
    expect(existsSync(crumb)).toBe(true);
  });
});

describe("names with control characters", () => {
  test("ls and find escape them on a terminal; --print0 and --json keep them exact", async () => {
    const r = copy();
    const evil = "evil\x1b[2J\nfake line\\";
    rewriteCatalogs(r, { "": (db) => setRow(db, "/hello.txt", "name = ?", evil) });
    // md5path no longer matches the name: the row moves to the evil name's key.
    rewriteCatalogs(r, { "": (db) => db.run("UPDATE catalog SET md5path_1 = ?, md5path_2 = ? WHERE name = ?", [...md5Pair(`/${evil}`), evil]) });
    const ls = await fs(r, ["ls", "/"]);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain("evil\\033[2J\\nfake line\\\\\n");
    expect(ls.stdout).not.toContain("\x1b");
    const find = await fs(r, ["find", "/"]);
    expect(find.stdout).toContain("/evil\\033[2J\\nfake line\\\\\n");
    const print0 = await fs(r, ["find", "/", "--print0"]);
    expect(print0.stdout.split("\0")).toContain(`/${evil}`);
    const json = await fs(r, ["find", "/", "--json"]);
    expect(JSON.parse(json.stdout)).toContain(`/${evil}`);
    expect((await fs(r, ["cat", `/${evil}`])).stdout).toBe("hello, world\n");
  });
});

describe("a storage directory holding special files", () => {
  test("a FIFO, a link to /dev/zero and a directory are refused by type, without reading", async () => {
    const { execFileSync } = await import("node:child_process");
    const { symlinkSync } = await import("node:fs");
    for (const [kind, make] of [
      ["fifo", (f: string) => execFileSync("mkfifo", [f])],
      ["/dev/zero", (f: string) => symlinkSync("/dev/zero", f)],
      ["directory", (f: string) => mkdirSync(f)],
    ] as const) {
      const r = copy();
      const file = join(r.storage, ".cvmfswhitelist");
      rmSync(file);
      make(file);
      const t0 = performance.now();
      refused(await fs(r, ["ls", "/"]), `${file}: not a regular file`);
      expect(performance.now() - t0, kind).toBeLessThan(5000);
    }
  });
});
