// What the bench/*.ts scripts share: a bash command run to completion (its
// stdout; a failure throws with stderr), its wall time, a median, and a work
// directory on tmpfs when there is one (creating thousands of files is
// otherwise mostly the disk's time, for both sides of a comparison alike).
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The checkout, and the binary the benchmarks run (CVM overrides it, to compare builds). */
export const ROOT = join(import.meta.dir, "..", "..");
export const CVM = process.env.CVM ?? join(ROOT, "dist", "cvm");

export async function sh(cmd: string, env: Record<string, string | undefined> = {}): Promise<string> {
  const p = Bun.spawn(["bash", "-c", cmd], { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${cmd}: exit ${code}: ${err}`);
  return out;
}

export async function timed(cmd: string, env: Record<string, string | undefined> = {}): Promise<number> {
  const t0 = performance.now();
  await sh(cmd, env);
  return (performance.now() - t0) / 1000;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A fresh work directory under BENCH_TMP, else /dev/shm, else the temp directory. */
export function benchDir(prefix: string, tmpfs = true): { base: string; work: string } {
  const base = process.env.BENCH_TMP ?? (tmpfs && existsSync("/dev/shm") ? "/dev/shm" : tmpdir());
  return { base, work: mkdtempSync(join(base, prefix)) };
}
