// `cvm serve` against nginx (configured as upstream's stratum Apache,
// test/servers/nginx.ts) serving the same repository storage to the same
// parallel client: wrk (Debian's) cycling through the object URLs when it is
// installed, else curl through xargs -P. Three loads: every small object
// (requests/s), the manifest again and again (what squids revalidate), and the
// big chunks (MB/s), first with one worker each, then with one per core
// (cvm serve --workers N, nginx worker_processes N). Runs alternate cvm,
// nginx, … and medians are printed. Last, 2,000 clients that ask for a big
// chunk and never read: the resident memory of each server, and the manifest
// requests/s others get meanwhile.
// usage: bun bench/serve.ts   (SMALL_FILES, LARGE_BYTES, CONNECTIONS, SECONDS, RUNS, WORKERS, SLOW_READERS override)
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { availableParallelism } from "node:os";
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
const workers = Number(process.env.WORKERS ?? availableParallelism());
const slowReaders = Number(process.env.SLOW_READERS ?? 2000);
const wrk = Bun.which("wrk");

const { base, work } = benchDir("cvm-bench-serve-");

/** Starts `cvm serve` as users run it; resolves with its repository URL once it prints it. */
async function startCvmServe(storage: string, args: string[] = []) {
  const proc = Bun.spawn([CVM, "serve", storage, "--listen", "127.0.0.1:0", ...args], { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
  const reader = proc.stdout.getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("cvm serve exited before printing its URL");
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return { url: out.split("\t")[0], pids: [proc.pid], stop: async () => { proc.kill("SIGTERM"); await proc.exited; } };
}

/** One measured load: requests/s and MB/s over `seconds`, from wrk (or curl), with every answer checked to be 200. */
async function load(baseUrl: string, pathsFile: string, count: number, errors: string[] = []): Promise<{ rps: number; mbps: number }> {
  if (wrk) {
    const out = await sh(`'${wrk}' -t 2 -c ${connections} -d ${seconds}s -s '${work}/cycle.lua' '${baseUrl}'`, { WRK_PATHS: pathsFile });
    if (/Non-2xx or 3xx responses/.test(out)) throw new Error(`wrk saw wrong answers:\n${out}`);
    const failed = /Socket errors.*/.exec(out)?.[0];
    if (failed) errors.push(failed.replace("Socket errors: ", "")); // printed with the figures (a loaded machine: wrk's 2 s timeout)
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

  const origin = (u: string) => u.slice(0, u.indexOf("/cvmfs/"));
  const loads = [
    { name: `${smallPaths.length} small objects`, file: "small", count: smallPaths.length },
    { name: ".cvmfspublished", file: "manifest", count: 20000 },
    { name: `${bigPaths.length} big chunks`, file: "big", count: bigPaths.length },
  ];
  console.log(`storage: ${objects.length} objects (${smallPaths.length} of at most 64 KiB, ${bigPaths.length} over 1 MiB) under ${base}; client: ${wrk ? `wrk -t 2 -c ${connections} -d ${seconds}s` : `curl, xargs -P ${connections}`}; median of ${runs}`);
  for (const n of [...new Set([1, workers])]) {
    const nginx = await startNginx({ storageDirs: { [FQRN]: storage }, workers: n });
    const cvm = await startCvmServe(storage, ["--workers", String(n)]);
    try {
      const servers = { cvm: origin(cvm.url), nginx: origin(nginx.url(FQRN)) };
      console.log(`-- ${n} worker${n > 1 ? "s" : ""} each (cvm serve --workers ${n}, nginx worker_processes ${n})`);
      for (const l of loads) {
        const got: Record<"cvm" | "nginx", { rps: number; mbps: number }[]> = { cvm: [], nginx: [] };
        const errors = { cvm: [] as string[], nginx: [] as string[] };
        await load(servers.cvm, join(work, l.file), l.count); // warm-up: page cache, connections
        await load(servers.nginx, join(work, l.file), l.count);
        for (let i = 0; i < runs; i++) for (const s of ["cvm", "nginx"] as const) got[s].push(await load(servers[s], join(work, l.file), l.count, errors[s]));
        const rps = { cvm: median(got.cvm.map((g) => g.rps)), nginx: median(got.nginx.map((g) => g.rps)) };
        const mbps = { cvm: median(got.cvm.map((g) => g.mbps)), nginx: median(got.nginx.map((g) => g.mbps)) };
        console.log(`${l.name.padEnd(24)} cvm serve ${rps.cvm.toFixed(0).padStart(6)} req/s ${mbps.cvm.toFixed(1).padStart(7)} MB/s   nginx ${rps.nginx.toFixed(0).padStart(6)} req/s ${mbps.nginx.toFixed(1).padStart(7)} MB/s   ratio ${(rps.cvm / rps.nginx).toFixed(2)}`);
        for (const s of ["cvm", "nginx"] as const) if (errors[s].length) console.log(`  ${s} socket errors: ${errors[s].join("; ")}`);
      }
    } finally {
      await cvm.stop();
      await nginx.remove();
    }
  }
  console.log("target: ratio >= 1.0 on the small objects, >= 0.9 on the big chunks (one worker each)");

  // Slow readers: each server in turn holds them; RSS of its processes (nginx: master and worker).
  const rssOf = (pids: number[]) => pids.reduce((sum, pid) => sum + Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024, 0);
  const holdSlowReaders = async (serverOrigin: string, pids: () => number[]) => {
    const before = rssOf(pids());
    const { hostname, port } = new URL(serverOrigin);
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < slowReaders; i++) {
        const s = connect({ host: hostname, port: Number(port) });
        s.on("error", () => {});
        s.once("connect", () => s.write(`GET /cvmfs/${FQRN}/${bigPaths[i % bigPaths.length].slice(`/cvmfs/${FQRN}/`.length)} HTTP/1.1\r\nHost: x\r\n\r\n`));
        s.pause();
        sockets.push(s);
        if (i % 200 === 199) await Bun.sleep(50);
      }
      await Bun.sleep(3000); // answered as far as the socket buffers take it
      const errors: string[] = [];
      const meanwhile = await load(serverOrigin, join(work, "manifest"), 20000, errors);
      return { before, held: rssOf(pids()), rps: meanwhile.rps, open: sockets.filter((s) => !s.destroyed).length, errors: errors.join("; ") };
    } finally {
      for (const s of sockets) s.destroy();
    }
  };
  {
    const cvm = await startCvmServe(storage, ["--max-connections", String(slowReaders + 100), "--max-per-client", String(slowReaders + 100)]);
    const nginx = await startNginx({ storageDirs: { [FQRN]: storage }, workerConnections: slowReaders + 100 });
    try {
      const nginxPids = () => nginx.processes();
      const c = await holdSlowReaders(origin(cvm.url), () => cvm.pids);
      const g = await holdSlowReaders(origin(nginx.url(FQRN)), nginxPids);
      const mb = (b: number) => (b / 1048576).toFixed(0);
      console.log(`${slowReaders} slow readers of big chunks: cvm serve RSS ${mb(c.before)} -> ${mb(c.held)} MB (${c.open} held), others get ${c.rps.toFixed(0)} req/s${c.errors ? ` (${c.errors})` : ""}; nginx ${mb(g.before)} -> ${mb(g.held)} MB (${g.open} held), others get ${g.rps.toFixed(0)} req/s${g.errors ? ` (${g.errors})` : ""}`);
      console.log("target: cvm serve <= 256 MB with the slow readers held");
    } finally {
      await cvm.stop();
      await nginx.remove();
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
