// small.cern.ch was written by the stock CernVM-FS 2.11.5 server tools and
// checked by the stock client (test/fixtures/small.cern.ch/README.md): cvm
// must read exactly what the real publisher writes, and verify it clean.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expandSymlink } from "../src/cvmfs/format/symlink";
import { cvm, run, ROOT } from "./helpers/run";

const FIXTURE = join(ROOT, "test", "fixtures", "small.cern.ch");
const FQRN = "small.cern.ch";
let work: string, env: Record<string, string>;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "cvm-stock-"));
  env = { CVM_STATE_DIR: join(work, "state"), CVM_TEST_VAR: "" };
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const fs = (args: string[]) => cvm(["fs", args[0], join(FIXTURE, "storage"), "--fqrn", FQRN, "--keys", join(FIXTURE, "keys"), ...args.slice(1)], { env });

/** The listing format of content.listing, made from an exported tree. */
function listing(root: string): string[] {
  const lines: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel))) {
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, path));
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) { lines.push(`d ${mode} ${path}`); walk(path); }
      else if (st.isSymbolicLink()) lines.push(`l ${path} -> ${expandSymlink(readlinkSync(join(root, path)), {})}`);
      else lines.push(`f ${mode} ${st.size} ${st.nlink} ${path}`);
    }
  };
  walk("");
  return lines.sort();
}

describe("a repository written by the stock cvmfs 2.11.5 server", () => {
  test("verify --all: every catalog, counter and object of revisions 2 and 1", async () => {
    const r = await fs(["verify", "--all", "--json"]);
    expect(r.stderr).toBe("");
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ failures: [], revisions: [2, 1] });
    expect(report.catalogs).toBeGreaterThanOrEqual(4);
  });

  test("fs get gives the tree the stock client mounted: listing and every md5", async () => {
    const dest = join(work, "tree");
    const g = await fs(["get", "/", dest]);
    expect(g.stderr).toStartWith(`${dest}: 76 files`);
    expect(g.code).toBe(0);
    const expected = readFileSync(join(FIXTURE, "content.listing"), "utf8").trim().split("\n").sort();
    expect(listing(dest)).toEqual(expected);
    const md5 = await run(["md5sum", "--quiet", "-c", join(FIXTURE, "content.md5sums")], { cwd: dest });
    expect(md5.stdout + md5.stderr).toBe("");
    expect(md5.code).toBe(0);
  });

  test("xattrs, chunks and the history as the stock tools wrote them", async () => {
    const stat = JSON.parse((await fs(["stat", "/small.txt", "--json"])).stdout);
    expect(stat.xattrs).toEqual({ "user.cvm.test": "hello" });
    const chunked = JSON.parse((await fs(["stat", "/chunked.bin", "--json"])).stdout);
    expect(chunked.size).toBe(300_000);
    expect(chunked.chunks.length).toBeGreaterThan(1);
    const info = JSON.parse((await fs(["info", "--json"])).stdout);
    expect(info.tags.map((t: { name: string }) => t.name)).toEqual(expect.arrayContaining(["second", "initial", "trunk"]));
  });
});
