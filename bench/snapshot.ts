// `cvm publish snapshot` of a published 10,000-file / 500 MB repository over
// loopback, against the raw transfer of the same objects in the same run: curl
// fetching the same object URLs with the same parallelism (xargs -P, batches of
// 100 URLs per curl so process start-up is not what is measured), each written
// to disk as a file. The source is served by nginx (upstream's stratum
// configuration, test/servers/nginx.ts) when installed, else by cvm serve.
// Runs alternate raw, cvm, raw, cvm… and medians are printed; then an
// incremental snapshot with nothing new.
// usage: bun bench/snapshot.ts   (SMALL_FILES, LARGE_BYTES, PARALLEL, RUNS override)
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startNginx, type Nginx } from "../test/servers/nginx";
import { haveServers } from "../test/servers/server-process";
import { startStratumServer, type StratumServer } from "../src/cvmfs/serve/server";
import { CVM, ROOT, benchDir, median, sh, timed } from "./lib/shell";

const BUN = process.execPath;
const FQRN = "snapshot.bench.org";
const small = Number(process.env.SMALL_FILES ?? 9996);
const large = Number(process.env.LARGE_BYTES ?? 460 << 20);
const parallel = Number(process.env.PARALLEL ?? 16);
const runs = Number(process.env.RUNS ?? 3);

const { base, work } = benchDir("cvm-bench-snapshot-");

const env = { CVM_CONFIG_DIR: join(work, "publisher"), CVM_STATE_DIR: join(work, "state") };
const storage = join(work, "s0", FQRN);
try {
  await sh(`'${BUN}' '${ROOT}/bench/lib/make-tree.ts' '${work}/src' ${small} ${large}`);
  await sh(`'${CVM}' publish init ${FQRN} --storage '${storage}' --keys '${work}/keys' && '${CVM}' publish sync ${FQRN} '${work}/src'`, env);
  const objects = readdirSync(join(storage, "data")).filter((d) => /^[0-9a-f]{2}$/.test(d)).flatMap((d) => readdirSync(join(storage, "data", d)).map((f) => `data/${d}/${f}`));
  const mb = Number((await sh(`du -sm --apparent-size '${storage}/data' | cut -f1`)).trim());

  const useNginx = haveServers("nginx");
  const nginx: Nginx | undefined = useNginx ? await startNginx({ storageDirs: { [FQRN]: storage } }) : undefined;
  const served: StratumServer | undefined = useNginx ? undefined : startStratumServer({ storages: [storage], port: 0 });
  const url = nginx ? nginx.url(FQRN) : served!.url(FQRN);
  try {
    writeFileSync(join(work, "urls"), objects.map((o) => `${url}/${o}`).join("\n") + "\n");
    const raw = async () => {
      const dir = join(work, "raw");
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      const s = await timed(`cd '${dir}' && xargs -P ${parallel} -n 100 curl -sf --remote-name-all < '${work}/urls'`);
      const got = readdirSync(dir).length;
      if (got !== objects.length) throw new Error(`curl stored ${got} of ${objects.length} objects`);
      return s;
    };
    const replica = join(work, "s1", FQRN);
    const snap = () => `'${CVM}' publish snapshot '${url}' ${FQRN} --storage '${replica}' --keys '${work}/keys' --parallel ${parallel}`;
    const cvm = async () => {
      rmSync(join(work, "s1"), { recursive: true, force: true });
      return timed(snap(), env);
    };

    await raw(); // warms the server's page cache and connection paths for both sides
    const rawTimes: number[] = [], cvmTimes: number[] = [];
    for (let i = 0; i < runs; i++) {
      rawTimes.push(await raw());
      cvmTimes.push(await cvm());
    }
    await sh(`'${CVM}' fs verify '${replica}' --fqrn ${FQRN} --keys '${work}/keys'`, env);
    const incremental = await timed(snap(), env);
    const r = median(rawTimes), c = median(cvmTimes);
    const n = objects.length;
    console.log(`repository: ${small + Number((await sh(`ls '${work}/src/large' | wc -l`)).trim())} files, ${n} objects, ${mb} MB stored; served by ${useNginx ? "nginx" : "cvm serve"} on loopback; files under ${base}; parallel ${parallel}; median of ${runs}`);
    console.log(`cvm publish snapshot: ${c.toFixed(2)} s  (${(n / c).toFixed(0)} objects/s, ${(mb / c).toFixed(1)} MB/s)  runs ${cvmTimes.map((t) => t.toFixed(2)).join(" ")}`);
    console.log(`raw curl -P ${parallel}:      ${r.toFixed(2)} s  (${(n / r).toFixed(0)} objects/s, ${(mb / r).toFixed(1)} MB/s)  runs ${rawTimes.map((t) => t.toFixed(2)).join(" ")}`);
    console.log(`ratio cvm / raw throughput: ${(r / c).toFixed(2)}  (target >= 0.8)`);
    console.log(`incremental snapshot, nothing new: ${incremental.toFixed(2)} s`);
  } finally {
    await nginx?.remove();
    await served?.stop();
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
