/** `cvm serve` as a child process for tests and benchmarks: started on a free loopback port, stopped with SIGKILL. */
import type { Subprocess } from "bun";
import { CVM } from "./run";

export interface CvmServe {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** http://127.0.0.1:PORT */
  base: string;
  /** The URL of each repository served, by name. */
  urls: Map<string, string>;
  stderr: () => string;
  stop(): Promise<void>;
}

/** Starts `cvm serve STORAGE…` and returns once it has printed the URL of every repository. */
export async function startCvmServe(storages: string[], env: Record<string, string> = {}, binary = CVM): Promise<CvmServe> {
  const proc = Bun.spawn([binary, "serve", "--listen", "127.0.0.1:0", ...storages], { env: { ...process.env, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let err = "";
  void (async () => { for await (const c of proc.stderr) err += new TextDecoder().decode(c); })();
  const urls = new Map<string, string>();
  let out = "";
  const reader = proc.stdout.getReader();
  const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
  try {
    while (urls.size < storages.length) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`cvm serve exited or printed no URLs within 10 s: ${out} ${err}`);
      out += new TextDecoder().decode(value);
      for (const line of out.split("\n").slice(0, -1)) {
        const url = line.split("\t")[0];
        if (url.includes("/cvmfs/")) urls.set(url.slice(url.lastIndexOf("/") + 1), url);
      }
    }
  } finally {
    clearTimeout(timer);
  }
  reader.releaseLock();
  void (async () => { for await (const _ of proc.stdout) { /* keep the pipe drained */ } })();
  const first = [...urls.values()][0];
  return {
    proc, base: first.slice(0, first.indexOf("/cvmfs/")), urls, stderr: () => err,
    stop: async () => { proc.kill("SIGKILL"); await proc.exited; },
  };
}
