// A mount that lives through many revisions: the daemon's RSS after 10 and
// after REVISIONS (1,000) revisions, and the difference. Each revision is a
// small change of the same kind: the directory r<N-1>/ (40 files) replaced by
// r<N>/, so the tree keeps its size and every revision brings new paths (new
// inodes). Published in this process (no process start per revision), served
// by `cvm serve` on loopback, picked up at once with `remount` through the talk
// socket. After each: `find` counts exactly the published entries and a new
// file reads back; files held open since revisions 2 and 10 still read their
// own content; every 100 revisions an inode number is the same before and
// after the kernel's caches are dropped. Root only (FUSE).
// usage: bun bench/mount-lifetime.ts   (REVISIONS, FILES override)
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupMount } from "../test/helpers/fuse";
import { startCvmServe } from "../test/helpers/cvm-serve";
import { benchDir, CVM, sh as shWith } from "./lib/shell";

const FQRN = "lifetime.bench.org";
const revisions = Number(process.env.REVISIONS ?? 1000);
const files = Number(process.env.FILES ?? 40);

const { work } = benchDir("cvm-bench-lifetime-");
const env = { CVM_CONFIG_DIR: join(work, "publisher"), CVM_STATE_DIR: join(work, "state"), CVM_CONFIG_ROOT: join(work, "etc"), CVM_RUNTIME_DIR: join(work, "run") };
Object.assign(process.env, env); // the publisher below runs in this process and reads its configuration from there
const sh = (cmd: string) => shWith(cmd, env);
const { publishRevision } = await import("../src/cvmfs/publish/sync");
const { readPublisherConfig } = await import("../src/cvmfs/publish/config");
const { talk } = await import("../src/cvmfs/client/talk");
const { socketPath } = await import("../src/cvmfs/client/mount-state");

const src = join(work, "src"), m = join(work, "mnt");
const fileText = (rev: number, i: number) => `revision ${rev} file ${i}\n`;
/** The tree of revision `rev`: d/ (never changes), held.txt (changes every revision), r<rev>/ with `files` files. */
function writeRevision(rev: number): void {
  rmSync(join(src, `r${rev - 1}`), { recursive: true, force: true });
  mkdirSync(join(src, `r${rev}`), { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(join(src, `r${rev}`, `f${i}`), fileText(rev, i));
  writeFileSync(join(src, "held.txt"), `held.txt of revision ${rev}\n`);
}

/** A process holding held.txt open; each line on its stdin makes it print the whole file again, read from offset 0. */
function holder(rev: number) {
  const p = Bun.spawn(["python3", "-c", [
    "import os, sys",
    "fd = os.open(sys.argv[1], os.O_RDONLY)",
    "for _ in sys.stdin: print(os.pread(fd, 4096, 0).decode().strip(), flush=True)",
  ].join("\n"), join(m, "held.txt")], { stdin: "pipe", stdout: "pipe" });
  const reader = p.stdout.getReader();
  let buf = "";
  return {
    rev,
    async read(): Promise<string> {
      p.stdin.write("x\n");
      await p.stdin.flush();
      while (!buf.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error("the holder exited");
        buf += new TextDecoder().decode(value);
      }
      const line = buf.slice(0, buf.indexOf("\n"));
      buf = buf.slice(buf.indexOf("\n") + 1);
      return line;
    },
    stop() { p.kill(); },
  };
}

/** A holder whose file is open (it has read it once), checked to read revision `rev`. */
async function opened(rev: number) {
  const h = holder(rev);
  const got = await h.read();
  if (got !== `held.txt of revision ${rev}`) throw new Error(`held.txt opened at revision ${rev} reads '${got}'`);
  return h;
}

/** The daemon's resident memory (MB): all of it, its own (anonymous), and pages of the binary and other files. */
function memory(pid: number): { rss: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  return { rss: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile") + kb("RssShmem") };
}
const show = (m: { rss: number; anon: number; file: number }) => `${m.rss.toFixed(1)} MB (${m.anon.toFixed(1)} MB its own, ${m.file.toFixed(1)} MB of the binary and other files)`;

let server: Awaited<ReturnType<typeof startCvmServe>> | undefined;
const holders: ReturnType<typeof holder>[] = [];
try {
  mkdirSync(join(src, "d"), { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(join(src, "d", `f${i}`), `stays ${i}\n`);
  writeRevision(2);
  await sh(`'${CVM}' publish init ${FQRN} --storage '${work}/srv' --keys '${work}/keys' && '${CVM}' publish sync ${FQRN} '${src}'`);
  const config = readPublisherConfig(FQRN);
  const publish = () => publishRevision({ fqrn: FQRN, source: src, storage: config.storage, keysDir: config.keys, algorithm: config.algorithm, ttl: config.ttl });
  server = await startCvmServe([join(work, "srv")], env, CVM);
  mkdirSync(join(work, "etc"));
  // KCACHE 0: the kernel asks again at every path walk, so each revision is seen as soon as it is mounted.
  writeFileSync(join(work, "etc", "default.local"), `CVMFS_SERVER_URL=${server.base}/cvmfs/@fqrn@\nCVMFS_HTTP_PROXY=DIRECT\nCVMFS_KEYS_DIR=${work}/keys\nCVMFS_CACHE_BASE=${work}/cache\nCVMFS_KCACHE_TIMEOUT=0\n`);
  mkdirSync(m);
  await sh(`'${CVM}' mount ${FQRN} '${m}'`);
  const socket = socketPath(m);
  const pid = Number((await talk(socket, "pid")).trim());
  const entries = Number((await sh(`find '${src}' | wc -l`)).trim());
  console.log(`tree: ${entries} entries; each revision replaces a directory of ${files} files; ${revisions} revisions; served by cvm serve on loopback`);
  holders.push(await opened(2));
  const t0 = performance.now();
  let at10 = memory(pid);
  for (let rev = 3; rev <= revisions; rev++) {
    writeRevision(rev);
    const r = await publish();
    if (r.revision !== rev) throw new Error(`published revision ${r.revision}, expected ${rev}`);
    const said = await talk(socket, "remount");
    if (!said.startsWith(`new revision ${rev} `)) throw new Error(`remount at revision ${rev}: ${said}`);
    // The whole tree, exactly; a new file; an inode number twice.
    const seen = (await sh(`find '${m}' | wc -l; cat '${m}/r${rev}/f7'; stat -c %i '${m}/r${rev}/f3' '${m}/r${rev}/f3'`)).split("\n");
    if (Number(seen[0]) !== entries) throw new Error(`revision ${rev}: find counted ${seen[0]} entries, expected ${entries}`);
    if (`${seen[1]}\n` !== fileText(rev, 7)) throw new Error(`revision ${rev}: r${rev}/f7 reads '${seen[1]}'`);
    if (seen[2] !== seen[3]) throw new Error(`revision ${rev}: two inode numbers for one path: ${seen[2]}, ${seen[3]}`);
    if (rev === 10) holders.push(await opened(10));
    if (rev % 100 === 0 || rev === 10 || rev === revisions) {
      // Inode numbers stable within a revision, after the kernel forgot them too.
      const before = (await sh(`stat -c %i '${m}/r${rev}/f3'`)).trim();
      await sh("echo 2 > /proc/sys/vm/drop_caches");
      const after = (await sh(`stat -c %i '${m}/r${rev}/f3'`)).trim();
      if (before !== after) throw new Error(`revision ${rev}: r${rev}/f3 was inode ${before}, ${after} after the caches were dropped`);
      for (const h of holders) {
        const got = await h.read();
        if (got !== `held.txt of revision ${h.rev}`) throw new Error(`revision ${rev}: the file held open since revision ${h.rev} reads '${got}'`);
      }
      // Sampled at rest, 3 s after the last request, at every point alike: the runtime frees garbage and
      // returns freed pages to the system on timers, and a sample in the middle of that measures the timers.
      await Bun.sleep(3000);
      const now = memory(pid);
      if (rev === 10) at10 = now;
      const open = (await talk(socket, "cache")).split("\n").filter((l) => /^ {2}revision /.test(l)).length;
      console.log(`revision ${rev}: daemon RSS ${show(now)}, ${open} revisions open, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
  }
  const end = memory(pid);
  console.log(`daemon RSS after 10 revisions: ${show(at10)}; after ${revisions}: ${show(end)}`);
  console.log(`difference: ${(end.rss - at10.rss).toFixed(1)} MB (target: within 20 MB); its own memory ${(end.anon - at10.anon).toFixed(1)} MB`);
  console.log(`files held open since revisions 2 and 10 read their own content throughout; ${((performance.now() - t0) / 1000 / (revisions - 2) * 1000).toFixed(0)} ms per revision (publish, remount, find, read, stat)`);
  console.log(await talk(socket, "cache"));
} finally {
  for (const h of holders) h.stop();
  await sh(`'${CVM}' umount '${m}'`).catch(() => {});
  await cleanupMount(m);
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
}
