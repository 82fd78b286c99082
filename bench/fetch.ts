// Cold `cvm fs get` of a published 10,000-file / 500 MB repository through a
// real squid on loopback (nginx as the stratum 1), against the raw transfer
// limit measured in the same run: curl of the same object URLs through the
// same squid (xargs -P), inflated and written out. 1, 4 and 16 in parallel.
// Then the warm (cached) `cvm fs get` against `cp -r` of its result.
// usage: bun bench/fetch.ts   (SMALL_FILES, LARGE_BYTES override the tree)
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startNginx } from "../test/servers/nginx";
import { startSquid } from "../test/servers/squid";
import { CVM, ROOT, benchDir, sh, timed } from "./lib/shell";

const BUN = process.execPath;
const FQRN = "fetch.bench.org";
const small = Number(process.env.SMALL_FILES ?? 9996);
const large = Number(process.env.LARGE_BYTES ?? 460 << 20);

const { base, work } = benchDir("cvm-bench-fetch-");

const env = { CVM_CONFIG_DIR: join(work, "publisher"), CVM_STATE_DIR: join(work, "state") };
const storage = join(work, "srv");
try {
  await sh(`'${BUN}' '${ROOT}/bench/lib/make-tree.ts' '${work}/src' ${small} ${large}`);
  await sh(`'${CVM}' publish init ${FQRN} --storage '${storage}' --keys '${work}/keys' && '${CVM}' publish sync ${FQRN} '${work}/src'`, env);
  const mb = Number((await sh(`du -sm --apparent-size '${work}/src' | cut -f1`)).trim());
  const files = small + Number((await sh(`ls '${work}/src/large' | wc -l`)).trim());

  const nginx = await startNginx({ storageDirs: { [FQRN]: storage } });
  const squid = await startSquid({ memoryCacheMB: 1536, maxObjectMB: 32 });
  try {
    const objects = readdirSync(join(storage, "data")).flatMap((d) => readdirSync(join(storage, "data", d)).map((f) => `${nginx.url(FQRN)}/data/${d}/${f}`));
    writeFileSync(join(work, "urls"), objects.join("\n") + "\n");
    writeFileSync(join(work, "inflate.py"), [
      "import os, sys, zlib",
      "src, dst = sys.argv[1], sys.argv[2]",
      "for name in os.listdir(src):",
      "    data = open(os.path.join(src, name), 'rb').read()",
      "    try: data = zlib.decompress(data)",
      "    except zlib.error: pass",
      "    open(os.path.join(dst, name), 'wb').write(data)",
    ].join("\n"));
    const raw = async (parallel: number) => {
      const dir = join(work, `raw-${parallel}`);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(join(dir, "z"), { recursive: true });
      mkdirSync(join(dir, "out"));
      // Whole batches of URLs per curl, so process start-up is not what is measured; then inflate and write out.
      const s = await timed(`cd '${dir}/z' && xargs -P ${parallel} -n 100 curl -sf -x '${squid.url}' --remote-name-all < '${work}/urls' && python3 '${work}/inflate.py' '${dir}/z' '${dir}/out'`);
      rmSync(dir, { recursive: true, force: true });
      return s;
    };
    const cold = async (parallel: number) => {
      const dir = join(work, `cvm-${parallel}`);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      const opts = [`CVMFS_SERVER_URL=${nginx.url("@fqrn@")}`, `CVMFS_HTTP_PROXY=${squid.url}`, `CVMFS_KEYS_DIR=${work}/keys`, `CVMFS_CACHE_BASE=${dir}/cache`, `CVM_PARALLEL_DOWNLOADS=${parallel}`]
        .map((o) => `-o '${o}'`).join(" ");
      const s = await timed(`'${CVM}' fs get ${FQRN} / '${dir}/tree' ${opts}`, { ...env, CVM_CONFIG_ROOT: join(work, "no-etc") });
      return { s, dir, opts };
    };

    await raw(16); // warms squid: both sides then read from its memory
    console.log(`tree: ${files} files, ${mb} MB (${objects.length} objects), through squid ${squid.url} from nginx on loopback; files written under ${base}`);
    let last: { dir: string; opts: string } | undefined;
    for (const p of [1, 4, 16]) {
      const r = await raw(p);
      const c = await cold(p);
      if (last) rmSync(last.dir, { recursive: true, force: true });
      last = c;
      console.log(`parallel ${String(p).padStart(2)}: cvm fs get ${c.s.toFixed(2)} s (${(files / c.s).toFixed(0)} files/s, ${(mb / c.s).toFixed(1)} MB/s)` +
        `  raw curl+inflate ${r.toFixed(2)} s (${(mb / r).toFixed(1)} MB/s)  ratio cvm/raw throughput ${(r / c.s).toFixed(2)}`);
    }
    // Warm: the cache holds everything; against copying the result.
    const warmTree = join(last!.dir, "warm");
    const warm = await timed(`'${CVM}' fs get ${FQRN} / '${warmTree}' ${last!.opts}`, { ...env, CVM_CONFIG_ROOT: join(work, "no-etc") });
    const cp = await timed(`cp -r '${warmTree}' '${last!.dir}/copy'`);
    console.log(`warm cvm fs get ${warm.toFixed(2)} s (${(mb / warm).toFixed(1)} MB/s) vs cp -r ${cp.toFixed(2)} s: ratio ${(warm / cp).toFixed(2)}`);
  } finally {
    await Promise.all([nginx.remove(), squid.remove()]);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
