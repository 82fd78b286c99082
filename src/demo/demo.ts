import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { CvmError } from "../cli/errors";
import { startStratumServer, type StratumServer } from "../cvmfs/serve/server";

/**
 * `cvm demo`: the whole chain on one machine, checked step by step — a
 * repository published (stratum 0), served, replicated to a stratum 1 and
 * served again, mounted through the stratum 1 with the stock client's
 * configuration (or read with `cvm fs` where FUSE is not available), a short
 * tour, then a second revision that appears on the mount without a remount.
 * Every step runs the cvm binary itself, as a user would; the servers run in
 * this process, so nothing here ever touches the mount synchronously.
 */

export const DEMO_FQRN = "demo.cvmfs.local";

export interface DemoOptions {
  dir?: string;          // work directory (default a temporary one)
  keep?: boolean;        // leave everything (mounted, served) for a look around
  mount?: boolean;       // false: read with cvm fs even where FUSE is available
  say: (line: string) => void;
}

export interface DemoStep { what: string; seconds: number; }

interface Ran { code: number; stdout: string; stderr: string; }

/** A deterministic built-in tree: a few hundred files, nested catalogs, a chunked file, links, a script. */
function writeTree(root: string, revision: number): void {
  const dirs = ["bin", "lib", "share/doc", "share/data", "sw/v1", "sw/v1/include"];
  for (const d of dirs) mkdirSync(join(root, d), { recursive: true });
  for (const nested of ["share", "sw/v1"]) writeFileSync(join(root, nested, ".cvmfscatalog"), "");
  writeFileSync(join(root, "bin", "hello.sh"), `#!/bin/sh\necho "hello from CernVM-FS"\n`);
  chmodSync(join(root, "bin", "hello.sh"), 0o755);
  for (let i = 0; i < 120; i++) writeFileSync(join(root, "lib", `libdemo-${i}.txt`), `library ${i}\n`.repeat(1 + (i % 30)));
  for (let i = 0; i < 150; i++) writeFileSync(join(root, "share", "doc", `page-${i}.md`), `# Page ${i}\n\nDocumentation of step ${i}.\n`.repeat(1 + (i % 12)));
  for (let i = 0; i < 60; i++) writeFileSync(join(root, "sw", "v1", "include", `header-${i}.h`), `#define DEMO_${i} ${i}\n`);
  // 12 MB of pseudo-random bytes: above the 4 MiB minimum, so it is stored as chunks.
  const big = new Uint8Array(12 << 20);
  let x = 2463534242;
  for (let i = 0; i < big.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; big[i] = x & 0xff; }
  writeFileSync(join(root, "share", "data", "calibration.bin"), big);
  const link = (target: string, path: string) => { rmSync(path, { force: true }); symlinkSync(target, path); };
  link("libdemo-1.txt", join(root, "lib", "current"));
  link("v1/$(DEMO_ARCH:-x86_64)", join(root, "sw", "arch")); // a variant symlink, expanded by the client
  if (revision > 1) writeFileSync(join(root, "NEWS"), `revision ${revision}: published while the demo was mounted\n`);
}

const canMount = () => existsSync("/dev/fuse") && (process.getuid?.() === 0 || (statSync("/dev/fuse").mode & 0o006) === 0o006);

export async function runDemo(o: DemoOptions): Promise<DemoStep[]> {
  const cvm = process.execPath;
  const work = o.dir ? resolve(o.dir) : mkdtempSync(join(tmpdir(), "cvm-demo-"));
  mkdirSync(work, { recursive: true });
  const env: Record<string, string> = {
    ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined)),
    CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state"), CVM_CONFIG_ROOT: join(work, "etc"),
    CVM_RUNTIME_DIR: join(work, "run"),
  };
  const run = async (args: string[], timeoutMs = 60_000): Promise<Ran> => {
    const p = Bun.spawn([cvm, ...args], { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    clearTimeout(timer);
    return { code, stdout, stderr };
  };
  // Programs on the mount start through sh: Bun spawns with vfork, and this process (which serves the
  // strata the mount reads from) must never be frozen while the kernel asks the mount for the program.
  const tool = async (argv: string[], timeoutMs = 30_000): Promise<Ran> => {
    let p;
    try {
      p = Bun.spawn(["sh", "-c", 'exec "$0" "$@"', ...argv], { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    } catch (err) {
      throw new CvmError(`demo: cannot run ${argv[0]}: ${(err as Error).message}`);
    }
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    clearTimeout(timer);
    return { code, stdout, stderr };
  };
  const steps: DemoStep[] = [];
  const step = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const result = await f();
    const seconds = (performance.now() - t0) / 1000;
    steps.push({ what, seconds });
    o.say(`✓ ${what} (${seconds.toFixed(1)} s)`);
    return result;
  };
  const must = (r: Ran, what: string) => {
    if (r.code !== 0) throw new CvmError(`demo: ${what} failed: ${(r.stderr.trim().split("\n").pop() ?? "").replace(/^cvm: /, "")}`);
    return r;
  };

  const src = join(work, "tree"), stratum0 = join(work, "stratum0", DEMO_FQRN), stratum1 = join(work, "stratum1", DEMO_FQRN), keys = join(work, "keys");
  const mountpoint = join(work, "cvmfs", DEMO_FQRN);
  let s0: StratumServer | undefined, s1: StratumServer | undefined;
  let mounted = false;
  try {
    await step("published the built-in tree as revision 2 of demo.cvmfs.local (stratum 0)", async () => {
      writeTree(src, 1);
      must(await run(["publish", "init", DEMO_FQRN, "--storage", stratum0, "--keys", keys, "--ttl", "2"]), "publish init");
      must(await run(["publish", "sync", DEMO_FQRN, src]), "publish sync");
    });
    s0 = await step("stratum 0 served over HTTP (cvm serve)", async () => startStratumServer({ storages: [stratum0], hostname: "127.0.0.1", port: 0 }));
    await step("replicated to a stratum 1 (cvm publish snapshot)", async () => {
      must(await run(["publish", "snapshot", s0!.url(DEMO_FQRN), DEMO_FQRN, "--storage", stratum1, "--keys", keys]), "publish snapshot");
    });
    s1 = await step("stratum 1 served on a second port", async () => startStratumServer({ storages: [stratum1], hostname: "127.0.0.1", port: 0 }));
    mkdirSync(join(work, "etc"), { recursive: true });
    writeFileSync(join(work, "etc", "default.local"), [
      `CVMFS_SERVER_URL="${s1.url("@fqrn@")}"`, "CVMFS_HTTP_PROXY=DIRECT", `CVMFS_KEYS_DIR=${keys}`,
      `CVMFS_CACHE_BASE=${join(work, "cache")}`, "CVMFS_KCACHE_TIMEOUT=1",
    ].join("\n") + "\n");

    // The tour: through the mount when FUSE is here, else with cvm fs (same client, same checks).
    const fuse = o.mount !== false && canMount();
    if (fuse) {
      mkdirSync(mountpoint, { recursive: true });
      await step(`mounted through the stratum 1 on ${mountpoint} (cvm mount)`, async () => {
        must(await run(["mount", DEMO_FQRN, mountpoint]), "mount");
        mounted = true;
      });
    } else {
      o.say(o.mount === false ? "note: --no-mount: the tour reads with cvm fs instead of a mount"
        : "note: FUSE is not available here (no /dev/fuse, or not root without fusermount3): the tour reads with cvm fs instead of a mount");
    }
    const ls = (path: string) => (fuse ? tool(["ls", join(mountpoint, path)]) : run(["fs", "ls", DEMO_FQRN, `/${path}`]));
    // cvm fs cat reads regular files only: a symlink is followed here, as the kernel would on a mount.
    const cat = async (path: string): Promise<Ran> => {
      if (fuse) return tool(["cat", join(mountpoint, path)]);
      const st = await run(["fs", "stat", DEMO_FQRN, `/${path}`, "--json"]);
      const target = st.code === 0 ? (JSON.parse(st.stdout) as { symlink?: string }).symlink : undefined;
      return run(["fs", "cat", DEMO_FQRN, target ? `/${path.slice(0, path.lastIndexOf("/") + 1)}${target}` : `/${path}`]);
    };
    await step("ls / shows bin, lib, share, sw", async () => {
      const r = must(await ls(""), "ls");
      for (const name of ["bin", "lib", "share", "sw"]) if (!r.stdout.split("\n").includes(name)) throw new CvmError(`demo: ls / does not show ${name}`);
      o.say(`  $ ls ${fuse ? mountpoint : "/"}\n  ${r.stdout.trim().split("\n").join("  ")}`);
    });
    await step("cat lib/current follows the symlink to libdemo-1.txt", async () => {
      const r = must(await cat("lib/current"), "cat");
      if (r.stdout !== "library 1\nlibrary 1\n") throw new CvmError(`demo: lib/current reads ${JSON.stringify(r.stdout.slice(0, 40))}`);
    });
    await step("the 12 MB chunked file reads back byte for byte", async () => {
      const file = "share/data/calibration.bin";
      const r = fuse ? await tool(["sha256sum", join(mountpoint, file)]) : await tool(["sh", "-c", `"$0" fs cat ${DEMO_FQRN} /${file} | sha256sum`, cvm]);
      const local = await tool(["sha256sum", join(src, file)]);
      if (r.code !== 0 || r.stdout.split(" ")[0] !== local.stdout.split(" ")[0]) throw new CvmError("demo: calibration.bin differs from the published file");
    });
    if (fuse) {
      await step("a script runs straight from the mount", async () => {
        const r = must(await tool([join(mountpoint, "bin", "hello.sh")]), "running bin/hello.sh");
        o.say(`  $ ${join(mountpoint, "bin", "hello.sh")}\n  ${r.stdout.trim()}`);
      });
      await step("extended attributes: user.fqrn and user.revision", async () => {
        const r = must(await tool(["python3", "-c", "import os,sys; print(os.getxattr(sys.argv[1],'user.fqrn').decode(), os.getxattr(sys.argv[1],'user.revision').decode())", mountpoint]), "getxattr");
        if (r.stdout.trim() !== `${DEMO_FQRN} 2`) throw new CvmError(`demo: xattrs say ${r.stdout.trim()}`);
        o.say(`  user.fqrn = ${DEMO_FQRN}, user.revision = 2`);
      });
    }
    await step("cvm fs info through the stratum 1", async () => {
      const r = must(await run(["fs", "info", DEMO_FQRN]), "fs info");
      o.say(r.stdout.trim().split("\n").slice(0, 4).map((l) => `  ${l}`).join("\n"));
    });
    await step("revision 3 published, replicated, and seen on the mount after the TTL", async () => {
      writeTree(src, 3);
      must(await run(["publish", "sync", DEMO_FQRN, src]), "publish sync (revision 3)");
      must(await run(["publish", "snapshot", s0!.url(DEMO_FQRN), DEMO_FQRN, "--storage", stratum1, "--keys", keys]), "publish snapshot (revision 3)");
      const deadline = performance.now() + 20_000;
      for (;;) {
        const r = await cat("NEWS");
        if (r.code === 0 && r.stdout.startsWith("revision 3")) { o.say(`  NEWS: ${r.stdout.trim()}`); break; }
        if (performance.now() > deadline) throw new CvmError("demo: revision 3 did not appear within 20 s");
        await Bun.sleep(250);
      }
    });
    return steps;
  } finally {
    if (!o.keep) {
      if (mounted) await run(["umount", mountpoint], 20_000);
      await s1?.stop();
      await s0?.stop();
      if (!o.dir) rmSync(work, { recursive: true, force: true });
    } else {
      o.say(`kept: ${work}${mounted ? `, mounted on ${mountpoint}` : ""}; stratum 0 ${s0?.url(DEMO_FQRN)}, stratum 1 ${s1?.url(DEMO_FQRN)}`);
      o.say(`the servers run until Ctrl-C; afterwards: cvm umount ${mountpoint}; rm -rf ${work}`);
      await new Promise<void>((done) => { process.once("SIGINT", done); process.once("SIGTERM", done); });
      await s1?.stop();
      await s0?.stop();
    }
  }
}
