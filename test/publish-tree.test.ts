import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { linkSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cvm, run } from "./helpers/run";
import { hardlinkGroups, type SourceNode } from "../src/cvmfs/publish/tree";

const FQRN = "tree.example.org";
const isRoot = process.getuid?.() === 0;
let work: string, storage: string, keys: string, env: Record<string, string>;
const fs = (...args: string[]) => cvm(["fs", args[0], storage, "--fqrn", FQRN, "--keys", keys, ...args.slice(1)], { env });
const sync = (src: string) => cvm(["publish", "sync", FQRN, src, "--json"], { env });

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cvm-tree-"));
  storage = join(work, "srv"); keys = join(work, "keys");
  env = { CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state") };
  const r = await cvm(["publish", "init", FQRN, "--storage", storage, "--keys", keys], { env });
  if (r.code !== 0) throw new Error(r.stderr);
}, 30_000);
afterAll(() => rmSync(work, { recursive: true, force: true }), 60_000);

const file = (path: string, dev: bigint, ino: bigint, nlink = 2): SourceNode => ({
  path, name: path.slice(path.lastIndexOf("/") + 1), abs: `/src${path}`, kind: "file", mode: 0o100644, uid: 0, gid: 0,
  size: 1, mtime: 0, mtimeNs: 0, dev, ino, nlink, catalogRoot: false,
});

describe("hardlinks are one file only within one filesystem", () => {
  test("grouping: the same inode number on two devices makes two groups; single links make none", () => {
    const groups = hardlinkGroups([file("/m1/a", 39n, 2n), file("/m1/b", 39n, 2n), file("/m2/a", 40n, 2n), file("/m2/b", 40n, 2n), file("/solo", 39n, 7n, 1)]);
    expect([...groups.values()].map((g) => g.map((n) => n.path))).toEqual([["/m1/a", "/m1/b"], ["/m2/a", "/m2/b"]]);
  });

  test.skipIf(!isRoot)("two tmpfs mounts whose hardlinked files share inode numbers publish each file's own content", async () => {
    const src = join(work, "two-fs");
    const mounts = [join(src, "m1"), join(src, "m2")];
    for (const m of mounts) {
      mkdirSync(m, { recursive: true });
      expect((await run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", m])).code).toBe(0);
    }
    try {
      for (const [i, m] of mounts.entries()) {
        writeFileSync(join(m, "a"), `content of filesystem ${i + 1}\n`);
        linkSync(join(m, "a"), join(m, "b"));
      }
      const inodes = (await run(["stat", "-c", "%i", join(mounts[0], "a"), join(mounts[1], "a")])).stdout.split("\n");
      expect(inodes[0]).toBe(inodes[1]); // the premise: fresh tmpfs mounts number their inodes alike
      const r = await sync(src);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      for (const f of ["/m1/a", "/m1/b"]) expect((await fs("cat", f)).stdout).toBe("content of filesystem 1\n");
      for (const f of ["/m2/a", "/m2/b"]) expect((await fs("cat", f)).stdout).toBe("content of filesystem 2\n");
    } finally {
      for (const m of mounts) await run(["umount", m]);
    }
  }, 30_000);
});

describe("catalog files being built do not collide", () => {
  test("nested catalogs at /a/b and /a_b (and /a-b) publish and read back", async () => {
    const src = join(work, "collide");
    for (const d of ["a/b", "a_b", "a-b"]) {
      mkdirSync(join(src, d), { recursive: true });
      writeFileSync(join(src, d, ".cvmfscatalog"), "");
      writeFileSync(join(src, d, "where"), `${d}\n`);
    }
    const r = await sync(src);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).catalogsWritten).toBe(4);
    for (const d of ["a/b", "a_b", "a-b"]) expect((await fs("cat", `/${d}/where`)).stdout).toBe(`${d}\n`);
  }, 30_000);
});
