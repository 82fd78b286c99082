// `cvm fs get` as root restores owners, modes and times; a link in the
// repository (no tampering needed: any publisher can ship one) must never
// make it change a file outside DEST, nor change a file inside DEST twice.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cvm } from "./helpers/run";

const FQRN = "export.example.org";
const isRoot = process.getuid?.() === 0;
let work: string, storage: string, keys: string, outside: string, env: Record<string, string>;

/** What must not change about a file: owner, mode, times, content. */
const fingerprint = (file: string) => {
  const st = lstatSync(file);
  return { uid: st.uid, gid: st.gid, mode: st.mode, mtimeMs: st.mtimeMs, content: readFileSync(file, "utf8") };
};

beforeAll(async () => {
  if (!isRoot) return; // every test below is skipped (counted) when not root
  work = mkdtempSync(join(tmpdir(), "cvm-export-"));
  storage = join(work, "storage"); keys = join(work, "keys"); outside = join(work, "outside");
  env = { CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state") };
  mkdirSync(outside);
  for (const name of ["victim-abs", "victim-rel"]) {
    writeFileSync(join(outside, name), `${name}\n`);
    chmodSync(join(outside, name), 0o4755); // a chown through the link would strip this bit
    utimesSync(join(outside, name), 1_000_000_000, 1_000_000_000);
  }
  const src = join(work, "src");
  mkdirSync(join(src, "a", "b"), { recursive: true });
  writeFileSync(join(src, "suid"), "#!/bin/sh\n");
  chownSync(join(src, "suid"), 1234, 5678);
  chmodSync(join(src, "suid"), 0o4755);
  writeFileSync(join(src, "a", "b", "plain"), "plain\n");
  chownSync(join(src, "a", "b", "plain"), 2000, 2000);
  chownSync(join(src, "a"), 3000, 3001);
  symlinkSync(join(outside, "victim-abs"), join(src, "lnk-abs"));
  symlinkSync("../../../outside/victim-rel", join(src, "a", "b", "lnk-rel")); // from DEST/a/b, three levels up is `work`
  symlinkSync("/nonexistent/dangling", join(src, "dangling"));
  symlinkSync("suid", join(src, "in-tree"));
  for (const l of ["lnk-abs", "dangling", "in-tree", "a/b/lnk-rel"]) lchownSync(join(src, l), 4321, 4321);
  for (const args of [["init", FQRN, "--storage", storage, "--keys", keys], ["sync", FQRN, src]]) {
    const r = await cvm(["publish", ...args], { env });
    if (r.code !== 0) throw new Error(r.stderr);
  }
}, 60_000);

afterAll(() => { if (work) rmSync(work, { recursive: true, force: true }); }, 60_000);

describe("cvm fs get as root", () => {
  test.skipIf(!isRoot)("links (absolute, ../.., dangling, in-tree) change nothing outside DEST or through themselves", async () => {
    const before = { abs: fingerprint(join(outside, "victim-abs")), rel: fingerprint(join(outside, "victim-rel")) };
    const dest = join(work, "dest");
    const r = await cvm(["fs", "get", storage, "/", dest, "--fqrn", FQRN, "--keys", keys], { env });
    expect(r.code).toBe(0);
    expect(fingerprint(join(outside, "victim-abs"))).toEqual(before.abs);
    expect(fingerprint(join(outside, "victim-rel"))).toEqual(before.rel);
    // The in-tree target keeps its own owner and its setuid bit.
    const suid = lstatSync(join(dest, "suid"));
    expect([suid.uid, suid.gid, suid.mode & 0o7777]).toEqual([1234, 5678, 0o4755]);
    // Links are owned as the catalog says, themselves.
    for (const l of ["lnk-abs", "dangling", "in-tree", "a/b/lnk-rel"]) {
      const st = lstatSync(join(dest, l));
      expect(st.isSymbolicLink()).toBe(true);
      expect([st.uid, st.gid]).toEqual([4321, 4321]);
    }
  });

  test.skipIf(!isRoot)("the round trip keeps every uid and gid", async () => {
    const dest = join(work, "dest2");
    expect((await cvm(["fs", "get", storage, "/", dest, "--fqrn", FQRN, "--keys", keys], { env })).code).toBe(0);
    const owners = (root: string) => {
      const out: Record<string, [number, number]> = {};
      const walk = (rel: string) => {
        for (const n of readdirSync(join(root, rel))) {
          const p = `${rel}/${n}`;
          const st = lstatSync(join(root, p));
          out[p] = [st.uid, st.gid];
          if (st.isDirectory()) walk(p);
        }
      };
      walk("");
      return out;
    };
    expect(owners(dest)).toEqual(owners(join(work, "src")));
  });
});
