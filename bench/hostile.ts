// What a hostile stratum costs before cvm refuses it: peak RSS and wall time
// of `cvm fs ls` against a gzip bomb, an endless body and a 60 MB whitelist
// of comment lines (GNU time's %M and %e). usage: bun bench/hostile.ts
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startHostileServer, type Misbehaviour } from "../test/hostile/http-server";
import { CVM } from "./lib/shell";

const FQRN = "hostile.bench.org";
const work = mkdtempSync(join(tmpdir(), "cvm-bench-hostile-"));
const env = { ...process.env, CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state"), CVM_HTTP_TIMEOUT: "5" };
const run = async (argv: string[]) => {
  const p = Bun.spawn(argv, { env, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err, code: p.exitCode };
};
try {
  mkdirSync(join(work, "src"));
  writeFileSync(join(work, "src", "a.txt"), "a\n");
  await run([CVM, "publish", "init", FQRN, "--storage", join(work, "srv"), "--keys", join(work, "keys")]);
  await run([CVM, "publish", "sync", FQRN, join(work, "src")]);
  const cases: [string, string, Misbehaviour][] = [
    ["gzip bomb (256 MB of zeros, Content-Encoding: gzip)", ".cvmfspublished", { kind: "gzip-bomb" }],
    ["endless body", ".cvmfspublished", { kind: "endless" }],
    ["60 MB whitelist of '#' lines", ".cvmfswhitelist", { kind: "comment-lines", bytes: 60 << 20 }],
  ];
  for (const [what, path, m] of cases) {
    const server = startHostileServer(join(work, "srv"), FQRN);
    server.rule((p) => p === path, m);
    const r = await run(["/usr/bin/time", "-f", "TIME %M %e", CVM, "fs", "ls", server.base, "--keys", join(work, "keys")]);
    server.stop();
    const t = /TIME (\d+) ([\d.]+)/.exec(r.err)!;
    const refusal = r.err.split("\n").find((l) => l.startsWith("cvm: ")) ?? "(no refusal line)";
    console.log(`${what}: exit ${r.code} after ${t[2]} s, peak RSS ${(Number(t[1]) / 1024).toFixed(1)} MB\n  ${refusal}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
