import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { cvm, run } from "./helpers/run";
import { testWith } from "./helpers/tools";
import { md5Pair } from "../src/cvmfs/format/md5path";
import { hashBytes, objectPath, parseHex, toHex } from "../src/cvmfs/format/hash";
import { makeObject } from "../src/cvmfs/format/object";
import { manifestLetter, parseManifest } from "../src/cvmfs/format/manifest";
import { isExpired, parseWhitelist, whitelistLetter } from "../src/cvmfs/format/whitelist";
import { serializeXattrs, parseXattrs } from "../src/cvmfs/format/xattr";
import { expandSymlink } from "../src/cvmfs/format/symlink";
import { Chunker } from "../src/cvmfs/publish/chunker";
import { builtInMasterKeys } from "../src/cvmfs/format/keys";
import { COUNTER_NAMES } from "../src/cvmfs/format/dirent";

const FQRN = "format.example.org";
let work: string, storage: string, keys: string, env: Record<string, string>;
const sslTest = testWith("openssl");

const objectBytes = (hex: string, suffix: string) => readFileSync(join(storage, objectPath(parseHex(hex), suffix as "C")));
function openCatalog(hex: string): Database {
  const file = join(work, `${hex}.sqlite`);
  writeFileSync(file, inflateSync(objectBytes(hex, "C")));
  return new Database(file, { readonly: true, safeIntegers: true });
}
const manifestFields = () => {
  const text = readFileSync(join(storage, ".cvmfspublished")).toString("latin1");
  return text.slice(0, text.indexOf("\n--\n") + 1).split("\n").filter(Boolean);
};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cvm-format-"));
  storage = join(work, "srv"); keys = join(work, "keys");
  env = { CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state") };
  const src = join(work, "src");
  mkdirSync(join(src, "dir", "nested"), { recursive: true });
  writeFileSync(join(src, "file"), "content\n");
  writeFileSync(join(src, "dir", "nested", ".cvmfscatalog"), "");
  writeFileSync(join(src, "dir", "nested", "inner"), "x");
  symlinkSync("file", join(src, "link"));
  for (const args of [["init", FQRN, "--storage", storage, "--keys", keys], ["sync", FQRN, src]]) {
    const r = await cvm(["publish", ...args], { env });
    if (r.code !== 0) throw new Error(r.stderr);
  }
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }), 120_000);

describe("format details from the spec", () => {
  test("md5 path pairs are little-endian signed int64 halves (spec §2.6, verified pair for the root)", () => {
    expect(md5Pair("")).toEqual([338333539836370388n, 9098107892288553193n]);
    const [a, b] = md5Pair("/some/path");
    expect(typeof a).toBe("bigint");
    expect(a >= -(2n ** 63n) && b < 2n ** 63n).toBe(true);
  });

  test("the empty file is the 8-byte zlib stream named e8ec3d88… (spec §1.3)", () => {
    const o = makeObject(new Uint8Array(0), "sha1");
    expect(Buffer.from(o.bytes).toString("hex")).toBe("789c030000000001");
    expect(toHex(o.hash)).toBe("e8ec3d88b62ebf526e4e5a4ff6162a3aa48a6b78");
    expect(objectPath(makeObject(new Uint8Array(0), "rmd160").hash, "P")).toMatch(/^data\/[0-9a-f]{2}\/[0-9a-f]{38}-rmd160P$/);
    expect(toHex(hashBytes("shake128", "abc"))).toBe("5881092dd818bf5cf8a3ddb793fbcba74097d5c5-shake128");
  });

  test("manifest: fields in upstream's order, R = md5(''), B = uncompressed root catalog size", () => {
    const lines = manifestFields();
    expect(lines.map((l) => l[0]).join("")).toBe("CBRDSGANXHTY");
    expect(lines).toContain("Rd41d8cd98f00b204e9800998ecf8427e");
    expect(lines).toContain("D240");
    expect(lines).toContain("S2");
    expect(lines).toContain(`N${FQRN}`);
    expect(lines).toContain("Gno");
    expect(lines).toContain("Ano");
    const c = lines.find((l) => l[0] === "C")!.slice(1);
    expect(lines).toContain(`B${inflateSync(objectBytes(c, "C")).length}`);
    const y = lines.find((l) => l[0] === "Y")!.slice(1);
    expect(y).toBe(toHex(hashBytes("sha1", readFileSync(join(storage, ".cvmfsreflog")))));
  });

  test("manifest: the real 2.1-era example from the spec parses field by field", () => {
    const text = "C6ed3d49a5c64f21f36936ab350d49aaf57585b9a\nB14336\nRd41d8cd98f00b204e9800998ecf8427e\nD900\nS2\nGno\nNlegacy_aufs.cern.ch\nX65133968f581abad1e75489c92a634e44929cbd7\nH365d5083b27d67e2caeff6d66e5fe3f2d104a6bd\nT1445428515\n--\na7c0345bd49103a80f2341c0319e020d1acf454b\nSIG";
    const { manifest } = parseManifest(new TextEncoder().encode(text));
    expect(toHex(manifest.rootHash)).toBe("6ed3d49a5c64f21f36936ab350d49aaf57585b9a");
    expect(manifest).toMatchObject({ rootCatalogSize: 14336, ttl: 900, revision: 2, garbageCollectable: false, alternativePaths: false, fqrn: "legacy_aufs.cern.ch", publishedAt: 1445428515 });
    expect(toHex(manifest.certificate!)).toBe("65133968f581abad1e75489c92a634e44929cbd7");
    // written back in upstream's order, with the A line a 2.1-era publisher did not write yet
    expect(manifestLetter(manifest)).toBe(
      "C6ed3d49a5c64f21f36936ab350d49aaf57585b9a\nB14336\nRd41d8cd98f00b204e9800998ecf8427e\nD900\nS2\nGno\nAno\n" +
      "Nlegacy_aufs.cern.ch\nX65133968f581abad1e75489c92a634e44929cbd7\nH365d5083b27d67e2caeff6d66e5fe3f2d104a6bd\nT1445428515\n");
  });

  sslTest("manifest signature: RSA PKCS#1 v1.5 SHA-1 over the ASCII hex hash, checked by openssl", async () => {
    const bytes = readFileSync(join(storage, ".cvmfspublished"));
    const cut = bytes.indexOf("\n--\n") + 4;
    const nl = bytes.indexOf(0x0a, cut);
    writeFileSync(join(work, "hashline"), bytes.subarray(cut, nl));
    writeFileSync(join(work, "sig"), bytes.subarray(nl + 1));
    const pub = await run(["openssl", "x509", "-in", join(keys, `${FQRN}.crt`), "-pubkey", "-noout"]);
    writeFileSync(join(work, "cert.pub"), pub.stdout);
    const v = await run(["openssl", "dgst", "-sha1", "-verify", join(work, "cert.pub"), "-signature", join(work, "sig"), join(work, "hashline")]);
    expect(v.stdout.trim()).toBe("Verified OK");
    expect(bytes.subarray(cut, nl).toString()).toBe(toHex(hashBytes("sha1", bytes.subarray(0, cut - 3))));
  });

  sslTest("whitelist: text lines, fingerprint as openssl prints it, raw-RSA signature recovered by openssl", async () => {
    const bytes = readFileSync(join(storage, ".cvmfswhitelist"));
    const lines = bytes.subarray(0, bytes.indexOf("\n--\n")).toString().split("\n");
    expect(lines[0]).toMatch(/^\d{14}$/);
    expect(lines[1]).toMatch(/^E\d{14}$/);
    expect(lines[2]).toBe(`N${FQRN}`);
    const fp = (await run(["openssl", "x509", "-in", join(keys, `${FQRN}.crt`), "-noout", "-fingerprint", "-sha1"])).stdout.trim().split("=")[1];
    expect(lines[3]).toBe(fp);
    const cut = bytes.indexOf("\n--\n") + 4, nl = bytes.indexOf(0x0a, cut);
    writeFileSync(join(work, "wsig"), bytes.subarray(nl + 1));
    const rec = await run(["openssl", "pkeyutl", "-verifyrecover", "-pubin", "-inkey", join(keys, `${FQRN}.pub`), "-in", join(work, "wsig")]);
    expect(rec.stdout).toBe(bytes.subarray(cut, nl).toString());
    // the expiry is exactly 30 days after the creation line (both UTC), whatever the hour or date of the run
    const utc = (t: string) => Date.UTC(+t.slice(0, 4), +t.slice(4, 6) - 1, +t.slice(6, 8), +t.slice(8, 10), +t.slice(10, 12), +t.slice(12, 14));
    expect(utc(lines[1].slice(1)) - utc(lines[0])).toBe(30 * 86400_000);
  });

  test("whitelist expiry is to the hour: valid until the hour written, expired from it", () => {
    const letter = whitelistLetter({ fqrn: "x.org", fingerprints: [], now: new Date("2026-01-01T10:20:30Z"), validDays: 1 });
    expect(letter.split("\n").slice(0, 3)).toEqual(["20260101102030", "E20260102102030", "Nx.org"]);
    const { whitelist } = parseWhitelist(new TextEncoder().encode(letter + "--\n" + "0".repeat(40) + "\n"));
    expect(isExpired(whitelist, new Date("2026-01-02T09:59:59Z"))).toBe(false);
    expect(isExpired(whitelist, new Date("2026-01-02T10:00:00Z"))).toBe(true);
    const rmd = whitelistLetter({ fqrn: "x.org", fingerprints: [hashBytes("rmd160", "c")], now: new Date(), validDays: 1 }).split("\n")[3];
    expect(rmd).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}-RMD160$/);
  });

  test("catalog: exactly the tables, columns and index of schema 2.5 revision 7", () => {
    const c = manifestFields().find((l) => l[0] === "C")!.slice(1);
    const db = openCatalog(c);
    const cols = (t: string) => (db.query(`PRAGMA table_info(${t})`).all() as { name: string }[]).map((r) => r.name);
    expect(cols("catalog")).toEqual(["md5path_1", "md5path_2", "parent_1", "parent_2", "hardlinks", "hash", "size", "mode", "mtime", "mtimens", "flags", "name", "symlink", "uid", "gid", "xattr"]);
    expect(cols("chunks")).toEqual(["md5path_1", "md5path_2", "offset", "size", "hash"]);
    expect(cols("nested_catalogs")).toEqual(["path", "sha1", "size"]);
    expect(cols("bind_mountpoints")).toEqual(["path", "sha1", "size"]);
    expect(cols("statistics")).toEqual(["counter", "value"]);
    expect(cols("properties")).toEqual(["key", "value"]);
    expect(db.query("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'idx_catalog_parent'").all()).toHaveLength(1);
    const props = Object.fromEntries((db.query("SELECT key, value FROM properties").all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
    expect(props).toMatchObject({ schema: "2.5", schema_revision: "7", revision: "2", TTL: "240" });
    expect(props.root_prefix).toBeUndefined();
    expect(props.previous_revision).toMatch(/^[0-9a-f]{40}$/);
    const stats = Object.fromEntries((db.query("SELECT counter, value FROM statistics").all() as { counter: string; value: bigint }[]).map((r) => [r.counter, Number(r.value)]));
    expect(Object.keys(stats).sort()).toEqual(COUNTER_NAMES.flatMap((n) => [`self_${n}`, `subtree_${n}`]).sort());
    // root catalog: root, /dir, /dir/nested (mountpoint) = 3 dirs; file = 1 regular; link = 1 symlink; 1 nested
    expect(stats).toMatchObject({ self_dir: 3, self_regular: 1, self_symlink: 1, self_nested: 1, self_file_size: 8 });
    // subtree_* counts only the nested catalog below (its root dir, .cvmfscatalog and inner), never the root's own rows
    expect(stats).toMatchObject({ subtree_dir: 1, subtree_regular: 2, subtree_file_size: 1, subtree_nested: 0, subtree_symlink: 0 });
  });

  test("catalog rows: flags, hardlinks, parents, hash blobs, sizes as the spec gives them", () => {
    const c = manifestFields().find((l) => l[0] === "C")!.slice(1);
    const db = openCatalog(c);
    const row = (path: string) => db.query("SELECT rowid, * FROM catalog WHERE md5path_1 = ? AND md5path_2 = ?").get(...md5Pair(path)) as Record<string, unknown>;
    const root = row("");
    expect([Number(root.flags), root.parent_1, root.parent_2, root.name, Number(root.size), Number(root.rowid)]).toEqual([1, 0n, 0n, "", 4096, 1]);
    expect(Number(row("/dir/nested").flags)).toBe(3);
    const file = row("/file");
    expect(Number(file.flags)).toBe(4);
    expect(Number(file.hardlinks)).toBe(1);
    expect((file.hash as Uint8Array).length).toBe(20);
    expect([file.parent_1, file.parent_2]).toEqual(md5Pair(""));
    const link = row("/link");
    expect([Number(link.flags), link.symlink, Number(link.size), link.hash]).toEqual([12, "file", 4, null]);
    expect(Number(row("/dir").hardlinks)).toBe(3); // 2 + one subdirectory
    const nestedRef = db.query("SELECT path, sha1, size FROM nested_catalogs").get() as { path: string; sha1: string; size: bigint };
    expect(nestedRef.path).toBe("/dir/nested");
    const child = openCatalog(nestedRef.sha1);
    const childRoot = child.query("SELECT flags, parent_1, parent_2 FROM catalog WHERE md5path_1 = ? AND md5path_2 = ?").get(...md5Pair("/dir/nested")) as Record<string, unknown>;
    expect(Number(childRoot.flags)).toBe(33);
    expect([childRoot.parent_1, childRoot.parent_2]).toEqual(md5Pair("/dir"));
    expect((child.query("SELECT value FROM properties WHERE key = 'root_prefix'").get() as { value: string }).value).toBe("/dir/nested");
    expect(Number(nestedRef.size)).toBe(inflateSync(objectBytes(nestedRef.sha1, "C")).length);
  });

  test("xattr blob: version, count, then uint8 lengths, sorted by key (spec §2.6)", () => {
    const blob = serializeXattrs(new Map([["user.b", new Uint8Array([66])], ["user.a", new TextEncoder().encode("xy")]]));
    expect(Buffer.from(blob).toString("hex")).toBe("0102" + "0602" + Buffer.from("user.axy").toString("hex") + "0601" + Buffer.from("user.bB").toString("hex"));
    expect(new TextDecoder().decode(parseXattrs(blob).get("user.a"))).toBe("xy");
    expect(() => serializeXattrs(new Map([["k", new Uint8Array(256)]]))).toThrow(/at most 255/);
  });

  test("$(VAR) and $(VAR:-default) symlink expansion", () => {
    const env = { ARCH: "aarch64" };
    expect(expandSymlink("/sw/$(ARCH)/lib", env)).toBe("/sw/aarch64/lib");
    expect(expandSymlink("/sw/$(OS:-el9)/$(ARCH:-x86_64)", env)).toBe("/sw/el9/aarch64");
    expect(expandSymlink("/sw/$(UNSET)/x", env)).toBe("/sw//x");
    expect(expandSymlink("/a/$(broken", env)).toBe("/a/$(broken");
  });

  test("chunking is deterministic and content-defined, within min/max", () => {
    const o = { min: 4096, avg: 8192, max: 16384 };
    const data = new Uint8Array(400_000).map((_, i) => (i * 2654435761) >>> 24);
    const cutsOf = (d: Uint8Array, pieces: number) => {
      const c = new Chunker(o);
      const out: number[] = [];
      for (let i = 0; i < d.length; i += Math.ceil(d.length / pieces)) out.push(...c.push(d.subarray(i, i + Math.ceil(d.length / pieces))));
      return out;
    };
    const a = cutsOf(data, 1), b = cutsOf(data, 37);
    expect(b).toEqual(a); // however the bytes arrive
    let prev = 0;
    for (const cut of a) { expect(cut - prev).toBeGreaterThanOrEqual(o.min); expect(cut - prev).toBeLessThanOrEqual(o.max); prev = cut; }
    const shifted = new Uint8Array(data.length + 1000);
    shifted.set(new Uint8Array(1000).fill(7)); shifted.set(data, 1000);
    const common = cutsOf(shifted, 1).map((c) => c - 1000).filter((c) => a.includes(c));
    expect(common.length).toBeGreaterThan(a.length / 2); // an insertion moves only nearby cuts
  });

  test("the built-in master keys are the five shipped in the reference", () => {
    expect(builtInMasterKeys().map((k) => k.name).sort()).toEqual(["cern-it1.cern.ch.pub", "cern-it4.cern.ch.pub", "cern-it5.cern.ch.pub", "egi.eu.pub", "opensciencegrid.org.pub"]);
    for (const k of builtInMasterKeys()) expect(k.key.asymmetricKeyType).toBe("rsa");
  });
});

describe("other hash algorithms, older catalogs, key settings, resign", () => {
  for (const alg of ["rmd160", "shake128"] as const) {
    test(`a ${alg} repository: objects named with -${alg}, hash bits in the flags, reads and verifies`, async () => {
      const dir = join(work, alg), fqrn = `${alg}.example.org`;
      mkdirSync(join(dir, "src"), { recursive: true });
      writeFileSync(join(dir, "src", "f"), `${alg} content\n`);
      const e = { ...env, CVM_CONFIG_DIR: join(dir, "config") };
      expect((await cvm(["publish", "init", fqrn, "--storage", join(dir, "srv"), "--keys", keys, "--hash-algorithm", alg], { env: e })).code).toBe(0);
      expect((await cvm(["publish", "sync", fqrn, join(dir, "src")], { env: e })).code).toBe(0);
      const st = JSON.parse((await cvm(["fs", "stat", join(dir, "srv"), "/f", "--fqrn", fqrn, "--keys", keys, "--json"], { env: e })).stdout);
      expect(st.hash).toEndWith(`-${alg}`);
      expect((await cvm(["fs", "cat", join(dir, "srv"), "/f", "--fqrn", fqrn, "--keys", keys], { env: e })).stdout).toBe(`${alg} content\n`);
      const v = await cvm(["fs", "verify", join(dir, "srv"), "--fqrn", fqrn, "--keys", keys, "--json"], { env: e });
      expect(JSON.parse(v.stdout).failures).toEqual([]);
      const text = readFileSync(join(dir, "srv", ".cvmfspublished")).toString("latin1");
      expect(text).toMatch(new RegExp(`^C[0-9a-f]{40}-${alg}\\n`));
      const root = text.split("\n")[0].slice(1);
      const file = join(dir, "root.sqlite");
      writeFileSync(file, inflateSync(readFileSync(join(dir, "srv", objectPath(parseHex(root), "C")))));
      const db = new Database(file, { readonly: true });
      const flags = (db.query("SELECT flags FROM catalog WHERE name = 'f'").get() as { flags: number }).flags;
      expect(flags).toBe(4 + (alg === "rmd160" ? 256 : 512));
    });
  }

  test("a catalog of an older schema revision (no mtimens, no bind_mountpoints) reads", async () => {
    const { CatalogReader } = await import("../src/cvmfs/format/catalog-reader");
    const file = join(work, "rev2.sqlite");
    const db = new Database(file, { create: true });
    db.exec("CREATE TABLE properties (key TEXT, value TEXT, CONSTRAINT pk_properties PRIMARY KEY (key))");
    db.exec("CREATE TABLE catalog (md5path_1 INTEGER, md5path_2 INTEGER, parent_1 INTEGER, parent_2 INTEGER, hardlinks INTEGER, hash BLOB, size INTEGER, mode INTEGER, mtime INTEGER, flags INTEGER, name TEXT, symlink TEXT, uid INTEGER, gid INTEGER, xattr BLOB, CONSTRAINT pk_catalog PRIMARY KEY (md5path_1, md5path_2))");
    db.exec("CREATE TABLE chunks (md5path_1 INTEGER, md5path_2 INTEGER, offset INTEGER, size INTEGER, hash BLOB)");
    db.exec("CREATE TABLE nested_catalogs (path TEXT, sha1 TEXT)");
    db.exec("CREATE TABLE statistics (counter TEXT, value INTEGER)");
    for (const [k, v] of [["schema", "2.5"], ["schema_revision", "2"], ["revision", "7"]]) db.run("INSERT INTO properties VALUES (?, ?)", [k, v]);
    const ins = db.prepare("INSERT INTO catalog VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    ins.run(...md5Pair(""), 0, 0, 2, null, 4096, 0o40755, 1445428515, 1, "", "", 0, 0, null);
    ins.run(...md5Pair("/foo"), ...md5Pair(""), 4294967298n, Buffer.alloc(20, 1), 4, 0o100644, 1445428515, 4, "foo", "", 0, 0, null);
    db.close();
    const r = CatalogReader.open(file, "old catalog");
    expect(r.schemaRevision).toBe(2);
    expect(r.ttl).toBe(240);
    const foo = r.lookup("/foo")!;
    expect(foo).toMatchObject({ name: "foo", kind: "file", size: 4, linkcount: 2, hardlinkGroup: 1, mtimeNs: undefined });
    expect(r.list("").map((d) => d.name)).toEqual(["foo"]);
    expect(r.nested()).toEqual([]);
    r.close();
  });

  test("CVMFS_KEYS_DIR replaces the built-in keys, as for the cvmfs client", async () => {
    const r = await cvm(["fs", "ls", storage, "--fqrn", FQRN], { env: { ...env, CVMFS_KEYS_DIR: keys } });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("dir\nfile\nlink\n");
    const { loadMasterKeys } = await import("../src/cvmfs/format/keys");
    const pubs = readdirSync(keys).filter((f) => f.endsWith(".pub")).sort();
    expect(pubs).toContain(`${FQRN}.pub`);
    expect(loadMasterKeys({ env: { CVMFS_KEYS_DIR: keys } }).map((k) => k.name)).toEqual(pubs); // no built-in key left
    expect(loadMasterKeys({ env: {}, keysDir: keys })).toHaveLength(5 + pubs.length);            // --keys adds
  });

  test("resign renews the whitelist; sync warns when fewer than 7 days remain", async () => {
    const { writeWhitelist } = await import("../src/cvmfs/publish/init");
    writeWhitelist({ fqrn: FQRN, storage, keysDir: keys, days: 3, algorithm: "sha1" });
    const warned = await cvm(["publish", "sync", FQRN, join(work, "src")], { env });
    expect(warned.code).toBe(0);
    expect(warned.stderr).toMatch(/^warning: the whitelist of format\.example\.org expires in [23]\.\d days .*cvm publish resign format\.example\.org/);
    const r = await cvm(["publish", "resign", FQRN, "--days", "30"], { env });
    expect(r.code).toBe(0);
    const info = JSON.parse((await cvm(["fs", "info", storage, "--fqrn", FQRN, "--keys", keys, "--json"], { env })).stdout);
    expect(new Date(info.whitelistExpires).getTime() - Date.now()).toBeGreaterThan(29 * 86400_000);
    expect((await cvm(["publish", "sync", FQRN, join(work, "src")], { env })).stderr).toBe("");
  });
});
