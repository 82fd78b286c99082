import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { inflateSync } from "node:zlib";
import { objectPath } from "../src/cvmfs/format/hash";
import { DEFAULT_CHUNKING } from "../src/cvmfs/publish/chunker";
import { IngestPool, type IngestResult } from "../src/cvmfs/publish/ingest-pool";
import { LocalStorage } from "../src/cvmfs/publish/storage";
import { RepositoryError } from "../src/cvmfs/errors";

// A file that changes while the publisher reads it must be published as one
// version (never a splice of two), with that version's size and mtime, or fail
// naming it. The pool's `stored` hook runs on the main thread after each object
// is stored and before more work is handed out: the test changes the file there.
// One worker makes "some chunks read before the change, some after" certain
// (at most two chunks of >= 4 MiB go out at once).
let work: string, storage: string;
const BIG = 40 << 20; // at least 3 chunks (16 MiB max each)

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "cvm-ingest-"));
  storage = join(work, "srv");
  new LocalStorage(storage).createSkeleton();
});
afterAll(() => rmSync(work, { recursive: true, force: true }), 60_000);

/** The bytes a result publishes, read back from the stored objects. */
function published(r: IngestResult): Buffer {
  if (!r.chunks) return inflateSync(readFileSync(join(storage, objectPath(r.hash!, ""))));
  return Buffer.concat(r.chunks.map((c) => inflateSync(readFileSync(join(storage, objectPath(c.hash, "P"))))));
}

async function withPool<T>(stored: (file: string) => void, f: (pool: IngestPool) => Promise<T>): Promise<T> {
  const pool = IngestPool.create({ workers: 1, storageDir: storage, algorithm: "sha1", chunking: DEFAULT_CHUNKING, hooks: { stored } });
  try {
    return await f(pool);
  } finally {
    await pool.close();
  }
}

let n = 0;
const bigFile = () => {
  const file = join(work, `big-${++n}.bin`), bytes = randomBytes(BIG);
  writeFileSync(file, bytes);
  utimesSync(file, new Date("2020-01-01T00:00:00Z"), new Date("2020-01-01T00:00:00Z"));
  return { file, bytes };
};

describe("a file that changes while it is read", () => {
  test("replaced (renamed over) after its first chunk: published wholly as one version, with that version's size and mtime", async () => {
    const { file, bytes } = bigFile();
    const replacement = randomBytes(BIG + 777);
    let replaced = false;
    const r = await withPool((f) => {
      if (f !== file || replaced) return;
      replaced = true;
      writeFileSync(file + ".new", replacement);
      utimesSync(file + ".new", new Date("2023-03-03T00:00:00Z"), new Date("2023-03-03T00:00:00Z"));
      renameSync(file + ".new", file);
    }, (pool) => pool.ingest(file, BIG));
    expect(replaced).toBe(true);
    expect(r.chunks!.length).toBeGreaterThanOrEqual(3);
    // The open file is the old one to the end, but the rename moved its ctime: it is read again, from the new file.
    const content = published(r);
    expect(content.equals(bytes) || content.equals(replacement)).toBe(true); // never a splice of both
    expect(content.equals(replacement)).toBe(true);
    expect(r.stat).toMatchObject({ size: BIG + 777, mtime: Date.parse("2023-03-03T00:00:00Z") / 1000, mtimeNs: 0 });
  }, 60_000);

  test("rewritten in place after its first chunk: read again, published as the new version with its size and mtime", async () => {
    const { file } = bigFile();
    const rewritten = randomBytes(BIG - 12345);
    let rewrites = 0;
    const r = await withPool((f) => {
      if (f !== file || rewrites++) return;
      writeFileSync(file, rewritten);
      utimesSync(file, new Date("2021-06-01T00:00:00.5Z"), new Date("2021-06-01T00:00:00.5Z"));
    }, (pool) => pool.ingest(file, BIG));
    expect(published(r).equals(rewritten)).toBe(true);
    expect(r.stat).toMatchObject({ size: BIG - 12345, mtime: Date.parse("2021-06-01T00:00:00Z") / 1000, mtimeNs: 500_000_000 });
  }, 60_000);

  test("that keeps changing: fails with one line naming it", async () => {
    const { file } = bigFile();
    let rewrites = 0;
    const err = await withPool((f) => {
      if (f !== file) return;
      const t = new Date(Date.UTC(2022, 0, 1, 0, 0, ++rewrites));
      writeFileSync(file, randomBytes(BIG));
      utimesSync(file, t, t);
    }, (pool) => pool.ingest(file, BIG)).catch((e) => e);
    expect(err).toBeInstanceOf(RepositoryError);
    expect(err.message).toBe(`${file}: changed while being read, twice (its size or modification time moved); publish again once it is stable`);
  }, 60_000);

  test("a small file that changed after the scan is published as it is now, with its own size", async () => {
    const file = join(work, "small.txt");
    writeFileSync(file, "now shorter\n");
    const r = await withPool(() => {}, (pool) => pool.ingest(file, 5000)); // the scan saw 5000 bytes
    expect(published(r).toString()).toBe("now shorter\n");
    expect(r.stat.size).toBe(12);
    expect(r.stat.mtime).toBe(Math.floor(statSync(file).mtimeMs / 1000));
  });
});
