// Issue 18's figures for the local region under qemu TCG: `cvm --region local run IMAGE --template fleet-wn:2
// --proxy --wait` wall time (from the command to both pilots done, read from /cvmfs holding the proxy), the host
// RSS of each guest's qemu once ready, `ls` wall time with the guests running (alternated with `cvm regions`, a
// cloud command that lists nothing, and `cvm --version`, the binary's floor, as its peers), and `terminate` (ACPI power-off) time. RUNS=3 fleets by default, in turn.
// Goals: run to both pilots done <= 40 s under TCG on 2 cores; ls <= 50 ms.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makePki, PASS } from "../test/helpers/pki";
import { publishRepository, serveStorage } from "../test/helpers/stratum";
import { CVM, benchDir, median, sh } from "./lib/shell";

const RUNS = Number(process.env.RUNS ?? 3);
const LS_RUNS = 20;
const { work } = benchDir("cvm-bench-fleet-", false);
const FQRN = "pilot.cvm.test";
const env = { CVM_DATA_DIR: join(work, "data"), CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state"), X509_USER_PROXY: join(work, "proxy"), CVM_QEMU_ACCEL: undefined };
const local = (args: string) => sh(`'${CVM}' --region local ${args}`, env);

async function wall(cmd: string[]): Promise<number> {
  const t0 = performance.now();
  const p = Bun.spawn(cmd, { env: { ...process.env, ...env } as unknown as Record<string, string>, stdout: "ignore", stderr: "inherit" });
  if ((await p.exited) !== 0) throw new Error(`${cmd.join(" ")} failed`);
  return performance.now() - t0;
}

const rssMiB = (pid: number) => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

let served: Awaited<ReturnType<typeof serveStorage>> | undefined;
try {
  await sh(`'${CVM}' appliance build -f initrd -o '${join(work, "app")}' >/dev/null`);
  const ami = (await sh(`'${CVM}' appliance register '${join(work, "app")}'`, env)).split("\t")[0];
  const src = join(work, "src");
  mkdirSync(src);
  writeFileSync(join(src, "pilot.sh"), "#!/bin/sh\necho \"pilot: $(id -un) holds a proxy of $(cvm proxy info --identity)\"\n");
  chmodSync(join(src, "pilot.sh"), 0o755);
  const repo = await publishRepository(work, FQRN, src);
  served = await serveStorage(repo.storage);
  const key64 = Buffer.from(readFileSync(join(repo.keys, `${FQRN}.pub`))).toString("base64");
  mkdirSync(join(work, "config", "templates"), { recursive: true });
  writeFileSync(join(work, "config", "regions.ini"), `[local]\nforward = ${served.port}\nREPO = ${FQRN}\nREPO_PORT = ${served.port}\nREPO_KEY = ${key64}\n`);
  writeFileSync(join(work, "config", "templates", "fleet-wn.ini"), "[cernvm]\nusers = pilot:pilot:\nx509-user = pilot\nextra_repositories = ${REPO}|http://${HOST}:${REPO_PORT}/cvmfs/${REPO}|${REPO_KEY}\ncontextualization_command = pilot:/cvmfs/${REPO}/pilot.sh\n[cvmfs]\nCVMFS_HTTP_PROXY = DIRECT\n");
  const pki = await makePki({ name: "bench" });
  await sh(`echo ${PASS} | '${CVM}' proxy init --pwstdin --cert '${pki.userCert}' --key '${pki.userKey}' --valid 24:00 >/dev/null`, env);
  rmSync(pki.dir, { recursive: true, force: true });

  const runs: number[] = [], rss: number[] = [], ls: number[] = [], floor: number[] = [], regions: number[] = [], stops: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    runs.push(await wall([CVM, "--region", "local", "run", ami, "--template", "fleet-wn:2", "--proxy", "--wait"]));
    const ids = (await local("ls --state running")).trim().split("\n").map((l) => l.split("\t")[0]);
    for (const id of ids) {
      const text = await sh(`'${CVM}' console ${id}`, env);
      if (!text.includes("[pilot.sh] pilot: pilot holds a proxy of ")) throw new Error(`${id}: the pilot did not report its proxy`);
      rss.push(rssMiB(Number(readFileSync(join(work, "data", "local", "instances", id, "qemu.pid"), "utf8"))));
    }
    for (let k = 0; k < LS_RUNS; k++) {
      ls.push(await wall([CVM, "--region", "local", "ls"]));
      floor.push(await wall([CVM, "--version"]));
      regions.push(await wall([CVM, "regions"]));
    }
    stops.push(await wall([CVM, "--region", "local", "terminate", "-y", ...ids]));
  }
  const s = (xs: number[]) => `${(median(xs) / 1000).toFixed(1)} s [${xs.map((x) => (x / 1000).toFixed(1)).join(", ")}]`;
  console.log(`run --template fleet-wn:2 --proxy --wait (both pilots done), median of ${RUNS}: ${s(runs)}  (goal <= 40 s)`);
  console.log(`host RSS per guest (qemu, m1.small = 512 MiB, once ready): median ${median(rss).toFixed(0)} MiB [${rss.map((x) => x.toFixed(0)).join(", ")}]`);
  console.log(`ls with 2 guests running, median of ${ls.length}: ${median(ls).toFixed(1)} ms  (goal <= 50 ms); in turn with it: cvm regions (a cloud command that lists nothing) ${median(regions).toFixed(1)} ms, ratio ${(median(ls) / median(regions)).toFixed(2)}; cvm --version ${median(floor).toFixed(1)} ms, ratio ${(median(ls) / median(floor)).toFixed(2)}`);
  console.log(`terminate of 2 (ACPI power-off), median of ${RUNS}: ${s(stops)}`);
} finally {
  // every guest this run started is killed, whatever happened
  const dir = join(work, "data", "local", "instances");
  for (const id of existsSync(dir) ? readdirSync(dir) : []) {
    const pidFile = join(dir, id, "qemu.pid");
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, "utf8"));
    try { if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(join(dir, id))) process.kill(pid, "SIGKILL"); } catch { /* gone */ }
  }
  await served?.stop();
  rmSync(work, { recursive: true, force: true });
}
