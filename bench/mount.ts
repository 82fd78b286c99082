// `cvm mount` against local disk, one run, one tree (100,000 entries, 1 GB,
// nested catalogs): warm `find -ls`, warm sequential read of the large files,
// 4 KiB reads of a cached file with and without passthrough, the cold read of
// the whole tree over loopback HTTP (nginx), and the daemon's peak RSS.
// Root only (FUSE). usage: bun bench/mount.ts   (SMALL_FILES, LARGE_BYTES override)
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startNginx } from "../test/servers/nginx";
import { cleanupMount } from "../test/helpers/fuse";
import { benchDir, CVM, median, ROOT, sh as shWith, timed as timedWith } from "./lib/shell";

const FQRN = "mount.bench.org";
const small = Number(process.env.SMALL_FILES ?? 99_000);
const large = Number(process.env.LARGE_BYTES ?? 1 << 30);

const { work } = benchDir("cvm-bench-mount-", false); // a real disk: the comparison is with local disk
const env = { CVM_CONFIG_DIR: join(work, "publisher"), CVM_STATE_DIR: join(work, "state"), CVM_CONFIG_ROOT: join(work, "etc"), CVM_RUNTIME_DIR: join(work, "run") };
const sh = (cmd: string) => shWith(cmd, env);
const timed = (cmd: string) => timedWith(cmd, env);
const best = async (n: number, cmd: string) => median(await Array.fromAsync({ length: n }, () => timed(cmd)));
/** Medians of `n` samples of two commands taken in turn, so a machine that slows down meanwhile slows both. */
const bestPair = async (n: number, a: string, b: string): Promise<[number, number]> => {
  const as: number[] = [], bs: number[] = [];
  for (let i = 0; i < n; i++) { as.push(await timed(a)); bs.push(await timed(b)); }
  return [median(as), median(bs)];
};

const mounts: string[] = [];
try {
  const src = join(work, "src");
  await sh(`'${process.execPath}' '${ROOT}/bench/lib/make-tree.ts' '${src}' ${small} ${large}`);
  for (const d of readdirSync(join(src, "small")).slice(0, 10)) writeFileSync(join(src, "small", d, ".cvmfscatalog"), "");
  writeFileSync(join(src, "whole.bin"), new Uint8Array(3.5 * (1 << 20)).map((_, i) => (i * 2654435761) >>> 24));
  const entries = Number((await sh(`find '${src}' | wc -l`)).trim());
  const mb = Number((await sh(`du -sm --apparent-size '${src}' | cut -f1`)).trim());
  await sh(`'${CVM}' publish init ${FQRN} --storage '${work}/srv/${FQRN}' --keys '${work}/keys' && '${CVM}' publish sync ${FQRN} '${src}'`);
  const nginx = await startNginx({ storageDirs: { [FQRN]: join(work, "srv", FQRN) } });
  mkdirSync(join(work, "etc"));
  writeFileSync(join(work, "etc", "default.local"), `CVMFS_SERVER_URL=${nginx.url("@fqrn@")}\nCVMFS_HTTP_PROXY=DIRECT\nCVMFS_KEYS_DIR=${work}/keys\nCVMFS_CACHE_BASE=${work}/cache\nCVMFS_QUOTA_LIMIT=-1\n`);
  const mount = async (name: string, ...extra: string[]) => {
    const m = join(work, name);
    mkdirSync(m);
    mounts.push(m);
    await sh(`'${CVM}' mount ${FQRN} '${m}' ${extra.join(" ")}`);
    return m;
  };
  try {
    console.log(`tree: ${entries} entries, ${mb} MB, 11 catalogs; served by nginx on loopback; cache and local tree on ${work}`);
    const m = await mount("m");
    // Cold: every file read once through the mount (downloads, verifies, caches).
    const cold = await timed(`cd '${m}' && find . -type f -print0 | xargs -0 -P 8 -n 200 cat > /dev/null`);
    console.log(`cold read of the whole tree over HTTP: ${cold.toFixed(1)} s (${(entries / cold).toFixed(0)} files/s, ${(mb / cold).toFixed(1)} MB/s)`);
    // Warm find -ls: medians of 5, local and mount in turn.
    await sh(`find '${src}' -ls > /dev/null; find '${m}' -ls > /dev/null`);
    const [findLocal, findMount] = await bestPair(5, `find '${src}' -ls > /dev/null`, `find '${m}' -ls > /dev/null`);
    console.log(`warm find -ls: local ${findLocal.toFixed(2)} s, mount ${findMount.toFixed(2)} s: ${(findMount / findLocal).toFixed(2)}× (target ≤ 1.5×)`);
    // Warm sequential read of the large files (page caches warm on both sides).
    const bigs = readdirSync(join(src, "large")).map((f) => `large/${f}`).join(" ");
    await sh(`cd '${src}' && cat ${bigs} > /dev/null; cd '${m}' && cat ${bigs} > /dev/null`);
    // Five passes per sample: one pass of a warm gigabyte is a tenth of a second, too short to time alone.
    const fivePasses = (dir: string) => `cd '${dir}' && for i in 1 2 3 4 5; do cat ${bigs}; done > /dev/null`;
    const [seqLocal, seqMount] = await bestPair(5, fivePasses(src), fivePasses(m));
    const lmb = (5 * large) / (1 << 20);
    console.log(`warm sequential read of ${(lmb / 5).toFixed(0)} MB (5 passes): local ${(lmb / seqLocal).toFixed(0)} MB/s, mount ${(lmb / seqMount).toFixed(0)} MB/s: ${(seqLocal / seqMount).toFixed(2)}× local throughput (target ≥ 0.95×)`);
    // Above, each page cache is as its writer left it (the tree by one write per file, the cache in 1 MiB
    // slices), and that shapes read speed. Here both are read back from disk first, so they have the same history.
    await sh(`sync && echo 1 > /proc/sys/vm/drop_caches && cd '${src}' && cat ${bigs} > /dev/null && cd '${m}' && cat ${bigs} > /dev/null`);
    const [rereadLocal, rereadMount] = await bestPair(5, fivePasses(src), fivePasses(m));
    console.log(`  the same after both page caches were dropped and read back from disk: local ${(lmb / rereadLocal).toFixed(0)} MB/s, mount ${(lmb / rereadMount).toFixed(0)} MB/s: ${(rereadLocal / rereadMount).toFixed(2)}×`);
    // 4 KiB reads of one cached 128 MB file, fresh opens, with and without passthrough.
    const blob = "whole.bin"; // under the 4 MiB chunking minimum: one object, so passthrough applies
    const off = await mount("no-passthrough", "--no-passthrough");
    await sh(`cat '${off}/${blob}' > /dev/null`);
    // The same warm sequential read without passthrough: from the page cache of the FUSE files themselves.
    await sh(`cd '${off}' && cat ${bigs} > /dev/null && cat ${bigs} > /dev/null`);
    const seqOff = await best(5, fivePasses(off));
    console.log(`  the same without passthrough: ${(lmb / seqOff).toFixed(0)} MB/s: ${(seqLocal / seqOff).toFixed(2)}× local throughput`);
    // Each run starts with the file's page cache dropped (fadvise DONTNEED), so the reads really go to the
    // filesystem: the daemon without passthrough, the backing cache file with it.
    // One process times 30 rounds of 4 KiB reads, the file's page cache dropped (fadvise DONTNEED) before each,
    // so the reads really go to the filesystem: the daemon without passthrough, the backing cache file with it.
    writeFileSync(join(work, "small-reads.py"), [
      "import os, sys, time",
      "path, rounds = sys.argv[1], 30",
      "total, spent = 0, 0.0",
      "for _ in range(rounds):",
      "    fd = os.open(path, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)",
      "    t0 = time.perf_counter()",
      "    while True:",
      "        b = os.read(fd, 4096)",
      "        if not b: break",
      "        total += len(b)",
      "    spent += time.perf_counter() - t0; os.close(fd)",
      "print(total / spent / 1048576)",
    ].join("\n"));
    const rate = async (root: string) => Number((await sh(`python3 '${work}/small-reads.py' '${root}/${blob}'`)).trim()).toFixed(0);
    const [on, offRate, local] = [await rate(m), await rate(off), await rate(src)];
    console.log(`4 KiB reads of a cached 3.5 MB file (page cache dropped each round): passthrough ${on} MB/s (${await sh(`'${CVM}' fs talk '${m}' passthrough`).then((t) => t.trim())}), without ${offRate} MB/s, local ${local} MB/s`);
    const pid = Number((await sh(`'${CVM}' fs talk '${m}' pid`)).trim());
    const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    console.log(`daemon peak RSS: ${(Number(hwm) / 1024).toFixed(0)} MB`);
  } finally {
    for (const m of mounts) { await sh(`'${CVM}' umount '${m}'`).catch(() => {}); await cleanupMount(m); }
    await nginx.remove();
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
