import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { cvm } from "./helpers/run";
import { makeObject } from "../src/cvmfs/format/object";
import { objectPath } from "../src/cvmfs/format/hash";
import { publishRevision } from "../src/cvmfs/publish/sync";

// gc removes what failed publishes stored and nothing any tagged revision needs.
const FQRN = "gc.example.org";
let work: string, src: string, storage: string, keys: string, env: Record<string, string>;
const fs = (...args: string[]) => cvm(["fs", args[0], storage, "--fqrn", FQRN, "--keys", keys, ...args.slice(1)], { env });
const gc = (...extra: string[]) => cvm(["publish", "gc", FQRN, "--json", ...extra], { env });
const allObjects = () => readdirSync(join(storage, "data")).filter((d) => d !== "txn").flatMap((d) => readdirSync(join(storage, "data", d)).map((f) => `data/${d}/${f}`)).sort();

/** An object no revision refers to, as a failed publish leaves it. */
function orphan(suffix: "" | "P" | "C"): string {
  const path = objectPath(makeObject(randomBytes(2000), "sha1").hash, suffix);
  writeFileSync(join(storage, path), randomBytes(100));
  return path;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cvm-gc-"));
  src = join(work, "src"); storage = join(work, "srv"); keys = join(work, "keys");
  env = { CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state") };
  mkdirSync(join(src, "nested"), { recursive: true });
  writeFileSync(join(src, "nested", ".cvmfscatalog"), "");
  writeFileSync(join(src, "only-in-first"), "kept for the tag 'first'\n");
  writeFileSync(join(src, "nested", "big"), randomBytes(20 << 20)); // chunked: P objects
  const steps = [["init", FQRN, "--storage", storage, "--keys", keys], ["sync", FQRN, src, "--tag", "first"]];
  for (const args of steps) {
    const r = await cvm(["publish", ...args], { env });
    if (r.code !== 0) throw new Error(r.stderr);
  }
  unlinkSync(join(src, "only-in-first"));
  writeFileSync(join(src, "nested", "big"), randomBytes(20 << 20));
  writeFileSync(join(src, "new"), "second\n");
  const r = await cvm(["publish", "sync", FQRN, src, "--tag", "second"], { env });
  if (r.code !== 0) throw new Error(r.stderr);
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }), 60_000);

describe("cvm publish gc", () => {
  test("a storage with nothing unreferenced: removes nothing", async () => {
    const before = allObjects();
    const r = await gc();
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ removed: [], revisions: [1, 2, 3] });
    expect(allObjects()).toEqual(before);
  });

  test("what a publish that failed after storing content left is removed; every tagged revision still verifies", async () => {
    const before = allObjects();
    writeFileSync(join(src, "from-the-failed-publish"), randomBytes(5000));
    const failed = await publishRevision(
      { fqrn: FQRN, source: src, storage, keysDir: keys, algorithm: "sha1", ttl: 240 },
      { phase: (p) => { if (p === "catalogs") throw new Error("stopped before the catalogs"); } },
    ).then(() => new Error("published"), (e: Error) => e);
    unlinkSync(join(src, "from-the-failed-publish"));
    expect(failed.message).toBe("stopped before the catalogs");
    const left = allObjects().filter((p) => !before.includes(p));
    expect(left.length).toBe(1);
    const planted = [orphan(""), orphan("P"), orphan("C")];
    writeFileSync(join(storage, "data", "ab", "not-an-object.txt"), "left alone\n");

    const dry = await gc("--dry-run");
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout).removed.sort()).toEqual([...left, ...planted].sort());
    expect(allObjects()).toEqual([...before, ...left, ...planted, "data/ab/not-an-object.txt"].sort());

    const r = await gc();
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).removed.sort()).toEqual([...left, ...planted].sort());
    expect(allObjects()).toEqual([...before, "data/ab/not-an-object.txt"].sort());
    const verify = await fs("verify", "--all", "--json");
    expect(JSON.parse(verify.stdout)).toMatchObject({ failures: [], revisions: expect.arrayContaining([1, 2, 3]) });
    expect(verify.code).toBe(0);
  }, 60_000);

  test("a tagged revision whose catalog cannot be read stops gc with nothing removed", async () => {
    const planted = orphan("");
    // hide the catalog of revision 'first' (not the current one)
    const tags = JSON.parse((await fs("info", "--json")).stdout).tags as { name: string; hash: string }[];
    const hex = tags.find((t) => t.name === "first")!.hash;
    const catalog = join(storage, "data", hex.slice(0, 2), hex.slice(2) + "C");
    renameSync(catalog, catalog + ".hidden");
    try {
      const r = await gc();
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^cvm: catalog ${hex}: .*/data/${hex.slice(0, 2)}/${hex.slice(2)}C: not found; nothing was removed\\n$`));
      expect(existsSync(join(storage, planted))).toBe(true);
    } finally {
      renameSync(catalog + ".hidden", catalog);
    }
  });
});
