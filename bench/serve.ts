// `cvm serve` against nginx (configured as upstream's stratum Apache,
// test/servers/nginx.ts) serving the same repository storage to the same
// parallel client: wrk (Debian's) cycling through the object URLs when it is
// installed, else curl through xargs -P. Three loads: every small object
// (requests/s, the figure the target is on), the manifest again and again (what
// squids revalidate), and the big chunks (MB/s). Runs alternate cvm, nginx, …
// and medians are printed.
// usage: bun bench/serve.ts   (SMALL_FILES, LARGE_BYTES, CONNECTIONS, SECONDS, RUNS override)
import { readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startNginx } from "../test/servers/nginx";
import { CVM, ROOT, benchDir, median, sh } from "./lib/shell";

const BUN = process.execPath;
const FQRN = "serve.bench.org";
const small = Number(process.env.SMALL_FILES ?? 10000);
const large = Number(process.env.LARGE_BYTES ?? 256 << 20);
const connections = Number(process.env.CONNECTIONS ?? 16);
const seconds = Number(process.env.SECONDS ?? 5);
const runs = Number(process.env.RUNS ?? 3);
const wrk = Bun.which("wrk");

const { base, work } = benchDir("cvm-bench-serve-");

/** Starts `cvm serve` as users run it; resolves with its repository URL once it prints it. */
async function startCvmServe(storage: string) {
  const proc = Bun.spawn([CVM, "serve", storage, "--listen", "127.0.0.1:0"], { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
  const reader = proc.stdout.getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("cvm serve exited before printing its URL");
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return { url: out.split("\t")[0], stop: async () => { proc.kill("SIGTERM"); await proc.exited; } };
}

/** One measured load: requests/s and MB/s over `seconds`, from wrk (or curl), with every answer checked to be 200. */
async function load(baseUrl: string, pathsFile: string, count: number): Promise<{ rps: number; mbps: number }> {
  if (wrk) {
    const out = await sh(`'${wrk}' -t 2 -c ${connections} -d ${seconds}s -s '${work}/cycle.lua' '${baseUrl}'`, { WRK_PATHS: pathsFile });
    if (/Non-2xx or 3xx responses/.test(out) || /Socket errors/.test(out)) throw new Error(`wrk saw errors:\n${out}`);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]);
    const [, amount, unit] = /Transfer\/sec:\s+([\d.]+)(\w+)/.exec(out)!;
    const mbps = Number(amount) * ({ B: 1 / 1048576, KB: 1 / 1024, MB: 1, GB: 1024 } as Record<string, number>)[unit];
    return { rps, mbps };
  }
  // curl: batches of 200 URLs per process over one kept-alive connection, `connections` processes at once
  const t0 = performance.now();
  const bytes = Number((await sh(`sed 's|^|${baseUrl}|' '${pathsFile}' | xargs -P ${connections} -n 200 curl -sf -o /dev/null -w '%{size_download}\\n' | awk '{s+=$1} END {print s}'`)).trim());
  const s = (performance.now() - t0) / 1000;
  return { rps: count / s, mbps: bytes / 1048576 / s };
}

try {
  const env = { CVM_CONFIG_DIR: join(work, "publisher"), CVM_STATE_DIR: join(work, "state") };
  const storage = join(work, "s0", FQRN);
  await sh(`'${BUN}' '${ROOT}/bench/lib/make-tree.ts' '${work}/src' ${small} ${large}`);
  await sh(`'${CVM}' publish init ${FQRN} --storage '${storage}' --keys '${work}/keys' && '${CVM}' publish sync ${FQRN} '${work}/src'`, env);
  const objects = readdirSync(join(storage, "data")).filter((d) => /^[0-9a-f]{2}$/.test(d)).flatMap((d) => readdirSync(join(storage, "data", d)).map((f) => `data/${d}/${f}`));
  const sized = objects.map((o) => ({ o, size: statSync(join(storage, o)).size }));
  const smallPaths = sized.filter((x) => x.size <= 64 << 10).map((x) => `/cvmfs/${FQRN}/${x.o}`);
  const bigPaths = sized.filter((x) => x.size > 1 << 20).map((x) => `/cvmfs/${FQRN}/${x.o}`);
  writeFileSync(join(work, "small"), smallPaths.join("\n") + "\n");
  writeFileSync(join(work, "big"), bigPaths.join("\n") + "\n");
  writeFileSync(join(work, "manifest"), `/cvmfs/${FQRN}/.cvmfspublished\n`.repeat(wrk ? 1 : 20000));
  writeFileSync(join(work, "cycle.lua"), [
    "local paths = {}",
    "for line in io.lines(os.getenv('WRK_PATHS')) do paths[#paths + 1] = line end",
    "local i = 0",
    "request = function()",
    "  i = i % #paths + 1",
    "  return wrk.format('GET', paths[i])",
    "end",
  ].join("\n") + "\n");

  const nginx = await startNginx({ storageDirs: { [FQRN]: storage } });
  const cvm = await startCvmServe(storage);
  try {
    const origin = (u: string) => u.slice(0, u.indexOf("/cvmfs/"));
    const servers = { cvm: origin(cvm.url), nginx: origin(nginx.url(FQRN)) };
    const loads = [
      { name: `${smallPaths.length} small objects`, file: "small", count: smallPaths.length },
      { name: ".cvmfspublished", file: "manifest", count: 20000 },
      { name: `${bigPaths.length} big chunks`, file: "big", count: bigPaths.length },
    ];
    console.log(`storage: ${objects.length} objects (${smallPaths.length} of at most 64 KiB, ${bigPaths.length} over 1 MiB) under ${base}; client: ${wrk ? `wrk -t 2 -c ${connections} -d ${seconds}s` : `curl, xargs -P ${connections}`}; median of ${runs}`);
    for (const l of loads) {
      const got: Record<"cvm" | "nginx", { rps: number; mbps: number }[]> = { cvm: [], nginx: [] };
      await load(servers.cvm, join(work, l.file), l.count); // warm-up: page cache, connections
      await load(servers.nginx, join(work, l.file), l.count);
      for (let i = 0; i < runs; i++) for (const s of ["cvm", "nginx"] as const) got[s].push(await load(servers[s], join(work, l.file), l.count));
      const rps = { cvm: median(got.cvm.map((g) => g.rps)), nginx: median(got.nginx.map((g) => g.rps)) };
      const mbps = { cvm: median(got.cvm.map((g) => g.mbps)), nginx: median(got.nginx.map((g) => g.mbps)) };
      console.log(`${l.name.padEnd(24)} cvm serve ${rps.cvm.toFixed(0).padStart(6)} req/s ${mbps.cvm.toFixed(1).padStart(7)} MB/s   nginx ${rps.nginx.toFixed(0).padStart(6)} req/s ${mbps.nginx.toFixed(1).padStart(7)} MB/s   ratio ${(rps.cvm / rps.nginx).toFixed(2)}`);
    }
    console.log("target: ratio >= 0.5 on the small objects");
  } finally {
    await cvm.stop();
    await nginx.remove();
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
