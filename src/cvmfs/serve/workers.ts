import { CvmError } from "../../cli/errors";
import { startStratumServer, type ServeOptions, type StratumServer } from "./server";
import type { WorkerMessage, WorkerStart } from "./serve-worker";

// In the compiled binary the worker is an entry point of its own (build.ts).
const WORKER_SCRIPT = import.meta.url.includes("/$bunfs/")
  ? "./src/cvmfs/serve/serve-worker.ts"
  : new URL("./serve-worker.ts", import.meta.url).href;

/**
 * `cvm serve --workers N`: N event loops, this thread's and N-1 worker
 * threads, each listening on the same address with SO_REUSEPORT, so the
 * kernel spreads connections over them and every core can answer. The caps
 * and the object cache are shared out: each loop holds its part of them
 * (the kernel spreads a client's connections too). Stopping stops them all.
 */
export async function startServeWorkers(o: ServeOptions, workers: number): Promise<StratumServer> {
  const caps = o.caps && { total: Math.ceil(o.caps.total / workers), perClient: Math.ceil(o.caps.perClient / workers) };
  const objectCacheBytes = o.objectCacheBytes === undefined ? undefined : Math.floor(o.objectCacheBytes / workers);
  const first = startStratumServer({ ...o, caps, objectCacheBytes, reusePort: workers > 1 });
  const threads: Worker[] = [];
  const stopThreads = () => Promise.all(threads.map((w) => new Promise<void>((resolve) => {
    const t = setTimeout(() => { void w.terminate(); resolve(); }, 3000);
    w.addEventListener("message", (e: MessageEvent<WorkerMessage>) => { if ("stopped" in e.data) { clearTimeout(t); void w.terminate(); resolve(); } });
    w.postMessage("stop");
  })));
  try {
    for (let i = 1; i < workers; i++) {
      const w = new Worker(WORKER_SCRIPT);
      threads.push(w);
      await new Promise<void>((resolve, reject) => {
        w.addEventListener("message", (e: MessageEvent<WorkerMessage>) => {
          const m = e.data;
          if ("listening" in m) resolve();
          else if ("failed" in m) reject(new CvmError(m.failed));
          else if ("log" in m) o.log?.(m.log);
          else if ("notice" in m) o.notice?.(m.notice);
        });
        w.addEventListener("error", (e) => reject(new CvmError(`serve worker ${i}: ${e.message}`)));
        const start: WorkerStart = { storages: o.storages, hostname: o.hostname, port: first.port, caps, objectCacheBytes, idleTimeout: o.idleTimeout, verbose: !!o.log };
        w.postMessage(start);
      });
    }
  } catch (err) {
    await stopThreads();
    await first.stop();
    throw err;
  }
  return { ...first, url: first.url, async stop() { await Promise.all([first.stop(), stopThreads()]); } };
}
