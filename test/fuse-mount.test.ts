// A real FUSE mount (as root) of an in-memory tree, served by this test
// process; everything touching the mount runs as a subprocess with a
// deadline, so the test never blocks on its own mount.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mountAt } from "../src/fuse/mount";
import { startFuse, type FuseHandle } from "../src/fuse/server";
import { CAN_MOUNT, cleanupMount, runFor } from "./helpers/fuse";
import { MemoryFs, pattern } from "./helpers/memory-fs";
import { hasTools } from "./helpers/tools";

const BIG = 100 * 1024 * 1024;

const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

describe.skipIf(!CAN_MOUNT)("a mounted in-memory tree", () => {
  let base = "";
  let mp = "";
  let handle: FuseHandle;
  const fs = new MemoryFs();
  const logged: string[] = [];
  let releaseSlow!: () => void;
  const manyHashes = new Map<string, string>();

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), "cvm-fuse-"));
    mp = join(base, "mnt");
    mkdirSync(mp);
    fs.mkdir("dir");
    fs.file("dir/a.txt", "hello\n");
    fs.mkdir("dir/sub");
    fs.file("dir/sub/b.txt", "bee\n");
    fs.mkdir("dir/sub/deeper");
    fs.file("dir/sub/deeper/c.txt", "sea\n");
    fs.symlink("link", "dir/a.txt");
    fs.symlink("dir/up", "../dir/sub/b.txt");
    fs.symlink("broken", "nowhere");
    fs.file("hard1", "shared content\n");
    fs.hardlink("dir/hard2", "hard1");
    fs.file("run.sh", "#!/bin/sh\necho ran from the mount\n", { mode: 0o755 });
    fs.setXattr("dir/a.txt", "user.revision", "42");
    fs.setXattr("dir/a.txt", "user.fqrn", "test.example.org");
    const big = pattern(BIG, 1);
    fs.file("big.bin", big);
    writeFileSync(join(base, "big.bin"), big);
    fs.mkdir("many");
    for (let i = 0; i < 64; i++) {
      const content = pattern(64 * 1024 + i * 997, 100 + i);
      fs.file(`many/f${i}`, content);
      manyHashes.set(`f${i}`, sha256(content));
    }
    fs.mkdir("wide");
    for (let i = 0; i < 1000; i++) fs.file(`wide/entry-with-a-longer-name-${i}`, "");
    fs.mkdir("slow");
    fs.file("slow/file", "finally\n", { gate: new Promise<void>((r) => { releaseSlow = r; }) });
    fs.mkdir("other");
    fs.file("other/quick", "quick\n");
    handle = await startFuse(mp, fs, { fsname: "cvmfs2", log: (l) => logged.push(l) });
  }, 60_000);

  afterAll(async () => {
    releaseSlow?.();
    if (handle) await handle.stop();
    await cleanupMount(mp);
    expect(mountAt(mp)?.fstype ?? "none").not.toStartWith("fuse");
    if (base) rmSync(base, { recursive: true, force: true });
  }, 30_000);

  test("mount and df show the fsname and type; read-only, nosuid, nodev", async () => {
    const m = mountAt(mp)!;
    expect(m).toMatchObject({ fstype: "fuse.cvmfs2", source: "cvmfs2" });
    const mounts = await Bun.file("/proc/self/mounts").text();
    const line = mounts.split("\n").find((l) => l.split(" ")[1] === mp)!;
    expect(line).toStartWith(`cvmfs2 ${mp} fuse.cvmfs2 ro,nosuid,nodev`);
    const df = await runFor(["df", "-P", mp], 10_000);
    expect(df.code).toBe(0);
    expect(df.stdout.split("\n")[1]).toStartWith("cvmfs2 ");
    expect(handle.protocol).toMatch(/^7\.\d+$/);
  });

  test("find lists every entry with its type and size", async () => {
    const r = await runFor(["find", mp, "-path", `${mp}/wide`, "-prune", "-o", "-path", `${mp}/many`, "-prune", "-o", "-printf", "%P %y %s\n"], 20_000);
    expect(r.code).toBe(0);
    const rows = new Set(r.stdout.trim().split("\n"));
    for (const row of ["dir d 4096", "dir/a.txt f 6", "dir/sub/deeper/c.txt f 4", "link l 9", "broken l 7", "hard1 f 15", "dir/hard2 f 15", "run.sh f 34", `big.bin f ${BIG}`, "dir/up l 16"]) {
      expect(rows).toContain(row);
    }
  });

  test("ls -lR walks the tree; a directory of 1000 entries pages through READDIRPLUS", async () => {
    const r = await runFor(["ls", "-lR", mp], 20_000);
    expect(r.code).toBe(0);
    r.stdout = r.stdout.slice(0, 2000);   // the head is what is checked; keep failure output short
    expect(r.stdout).toContain(`${mp}/dir/sub/deeper:`);
    expect(r.stdout).toMatch(/-rwxr-xr-x 1 root root\s+34 Nov 14  2023 run\.sh/);
    expect(r.stdout).toContain("link -> dir/a.txt");
    const wide = await runFor(["ls", "-a", join(mp, "wide")], 10_000);
    const names = wide.stdout.trim().split("\n");
    expect(names.length).toBe(1002);
    expect(names).toContain("entry-with-a-longer-name-999");
    expect(handle.requests.READDIRPLUS).toBeGreaterThan(1);
  });

  test("stat: a hardlink shares its inode and nlink is 2; mtime with nanoseconds", async () => {
    const r = await runFor(["stat", "-c", "%i %h %s %a %y", join(mp, "hard1"), join(mp, "dir/hard2")], 10_000);
    expect(r.code).toBe(0);
    const [a, b] = r.stdout.trim().split("\n");
    expect(a).toBe(b);
    expect(a).toMatch(/^\d+ 2 15 644 2023-11-14 22:13:20\.000000123/);
  });

  test("cat, readlink, links followed (relative to their directory), a dangling link fails", async () => {
    expect((await runFor(["cat", join(mp, "dir/a.txt")])).stdout).toBe("hello\n");
    expect((await runFor(["readlink", join(mp, "link")])).stdout).toBe("dir/a.txt\n");
    expect((await runFor(["cat", join(mp, "link")])).stdout).toBe("hello\n");
    expect((await runFor(["cat", join(mp, "dir/up")])).stdout).toBe("bee\n");
    const broken = await runFor(["cat", join(mp, "broken")]);
    expect(broken.code).not.toBe(0);
    expect(broken.stderr).toContain("No such file or directory");
  });

  test("a script on the mount runs", async () => {
    // Through sh: spawning it directly would vfork this process, which then cannot answer the exec's OPEN.
    const r = await runFor(["sh", "-c", 'exec "$0"', join(mp, "run.sh")]);
    expect(r).toMatchObject({ code: 0, stdout: "ran from the mount\n" });
  });

  test("xattrs: listed, read, absent ones ENODATA (getfattr and os.getxattr)", async () => {
    const py = await runFor(["python3", "-c", `
import os, sys, errno
p = sys.argv[1]
print(sorted(os.listxattr(p)))
print(os.getxattr(p, "user.revision").decode())
try:
    os.getxattr(p, "user.absent")
except OSError as e:
    print(errno.errorcode[e.errno])
`, join(mp, "dir/a.txt")]);
    expect(py.stderr).toBe("");
    expect(py.stdout).toBe("['user.fqrn', 'user.revision']\n42\nENODATA\n");
    if (hasTools("getfattr")) {
      const g = await runFor(["getfattr", "--absolute-names", "-d", join(mp, "dir/a.txt")]);
      expect(g.stdout).toContain('user.fqrn="test.example.org"');
      expect(g.stdout).toContain('user.revision="42"');
    }
  });

  test("100 MB: small and large reads at fixed pseudo-random offsets match the source, and the whole file compares equal", async () => {
    const script = `
import random, sys
mounted, local, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
rnd = random.Random(20261125)
bad = 0
with open(mounted, "rb", buffering=0) as m, open(local, "rb", buffering=0) as l:
    plan = [(rnd.randrange(size), rnd.randint(1, 8192)) for _ in range(400)]
    plan += [(rnd.randrange(size), rnd.randint(1 << 20, 4 << 20)) for _ in range(24)]
    plan += [(size - 10, 4096), (size, 10), (0, 1), (size - 1, 1), (123457, 1 << 20)]
    for off, n in plan:
        m.seek(off); l.seek(off)
        a = b""
        while len(a) < n:
            chunk = m.read(n - len(a))
            if not chunk: break
            a += chunk
        if a != l.read(n): bad += 1
print(len(plan), bad)
`;
    const r = await runFor(["python3", "-c", script, join(mp, "big.bin"), join(base, "big.bin"), String(BIG)], 120_000);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("429 0\n");
    const dd = await runFor(["dd", `if=${join(mp, "big.bin")}`, "bs=4k", "skip=12345", "count=100", "status=none", `of=${join(base, "dd.out")}`]);
    expect(dd.code).toBe(0);
    expect(sha256(new Uint8Array(await Bun.file(join(base, "dd.out")).arrayBuffer()))).toBe(sha256(fs.nodes.get(fs.nodes.get(1)!.children!.get("big.bin")!)!.data!.subarray(12345 * 4096, 12445 * 4096)));
    const cmp = await runFor(["cmp", join(mp, "big.bin"), join(base, "big.bin")], 120_000);
    expect(cmp).toMatchObject({ code: 0, stdout: "", stderr: "" });
  }, 240_000);

  test("16 parallel readers over 64 files: every checksum right, nothing logged", async () => {
    const readers = Array.from({ length: 16 }, (_, r) =>
      runFor(["sha256sum", ...Array.from({ length: 4 }, (_, k) => join(mp, "many", `f${r * 4 + k}`))], 60_000));
    const results = await Promise.all(readers);
    const seen = new Map<string, string>();
    for (const r of results) {
      expect(r.code).toBe(0);
      for (const line of r.stdout.trim().split("\n")) {
        const [hash, path] = line.split(/\s+/);
        seen.set(path.split("/").pop()!, hash);
      }
    }
    expect(seen).toEqual(manyHashes);
    expect(logged).toEqual([]);
  }, 120_000);

  test("a read waiting on the filesystem does not hold up ls of another directory", async () => {
    const slow = Bun.spawn(["cat", join(mp, "slow/file")], { stdout: "pipe", stderr: "pipe" });
    try {
      await fs.gatedReadStarted;
      const ls = await runFor(["ls", "-l", join(mp, "other")], 10_000);
      expect(ls.timedOut).toBe(false);
      expect(ls.stdout).toContain("quick");
      const cat = await runFor(["cat", join(mp, "other/quick")], 10_000);
      expect(cat.stdout).toBe("quick\n");
      expect(slow.exitCode).toBeNull();   // still waiting
    } finally {
      releaseSlow();
    }
    expect(await new Response(slow.stdout).text()).toBe("finally\n");
    expect(await slow.exited).toBe(0);
  }, 30_000);

  test("writes fail with EROFS: touch, mkdir, rm, echo >, mv, ln, setfattr", async () => {
    const attempts = [
      ["touch", join(mp, "new")],
      ["mkdir", join(mp, "newdir")],
      ["rm", "-f", join(mp, "dir/a.txt")],
      ["sh", "-c", `echo x > ${join(mp, "dir/a.txt")}`],
      ["sh", "-c", `echo x >> ${join(mp, "hard1")}`],
      ["mv", join(mp, "hard1"), join(mp, "moved")],
      ["ln", "-s", "x", join(mp, "newlink")],
      ["python3", "-c", `import os; os.setxattr(${JSON.stringify(join(mp, "dir/a.txt"))}, "user.x", b"1")`],
    ];
    for (const argv of attempts) {
      const r = await runFor(argv, 10_000);
      expect({ argv: argv.join(" "), failed: r.code !== 0, erofs: /Read-only file system/.test(r.stderr) }).toEqual({ argv: argv.join(" "), failed: true, erofs: true });
    }
    expect((await runFor(["cat", join(mp, "dir/a.txt")])).stdout).toBe("hello\n");
  });
});
