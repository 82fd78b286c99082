// Issue 15's figures for `cvm appliance`: build time, image size per format, and under qemu (TCG) the wall
// time from starting qemu to the agent's end and to the pilot's end, with the guest's RAM in use then. The
// guest: a NoCloud seed, a repository published by cvm and served by `cvm serve` on the host, the pilot run
// from /cvmfs as its user (the chain test/appliance.test.ts checks). Boots of the raw disk (256 MB) and the
// initrd (512 MB) are taken in turn. Goals: raw in 256 MB; initrd <= 64 MB compressed; boot to pilot <= 20 s;
// build <= 30 s.
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Guest, killAll } from "../test/helpers/qemu";
import { publishRepository, serveStorage } from "../test/helpers/stratum";
import { CVM, benchDir, median, sh } from "./lib/shell";

const RUNS = Number(process.env.RUNS ?? 3);
const { work } = benchDir("cvm-bench-appliance-", false);
const FQRN = "pilot.cvm.test";
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
let served: Awaited<ReturnType<typeof serveStorage>> | undefined;

try {
  // build: all formats at once, then each alone (what a user who wants one waits for)
  const builds: number[] = [];
  let result: { outputs: { format: string; bytes: number; ms: number }[] } | undefined;
  for (let i = 0; i < RUNS; i++) {
    rmSync(join(work, "app"), { recursive: true, force: true });
    const t0 = performance.now();
    result = JSON.parse(await sh(`'${CVM}' appliance build -f initrd,raw,iso -o '${join(work, "app")}' --cmdline 'quiet cvm.once panic=-1' --json`));
    builds.push((performance.now() - t0) / 1000);
  }
  console.log(`build (initrd + raw + iso), median of ${RUNS}: ${median(builds).toFixed(1)} s  [${builds.map((b) => b.toFixed(1)).join(", ")}]`);
  for (const o of result!.outputs) console.log(`  ${o.format.padEnd(6)} ${mb(o.bytes).padStart(9)}  written in ${(o.ms / 1000).toFixed(1)} s`);

  const src = join(work, "src");
  mkdirSync(src);
  writeFileSync(join(src, "pilot.sh"), `#!/bin/sh\necho "pilot: $(id -un) reads $(cat /cvmfs/${FQRN}/payload.txt)"\n`);
  chmodSync(join(src, "pilot.sh"), 0o755);
  writeFileSync(join(src, "payload.txt"), "payload\n");
  const repo = await publishRepository(work, FQRN, src);
  served = await serveStorage(repo.storage);
  const key = Buffer.from(readFileSync(join(repo.keys, `${FQRN}.pub`))).toString("base64");
  const seed = join(work, "seed.img");
  mkdirSync(join(work, "seed"));
  writeFileSync(join(work, "seed/user-data"), `[cernvm]\nusers = pilot:pilot:secret\nextra_repositories = ${FQRN}|http://10.0.2.100/cvmfs/${FQRN}|${key}\ncontextualization_command = pilot:/cvmfs/${FQRN}/pilot.sh\n[cvmfs]\nCVMFS_HTTP_PROXY = DIRECT\n`);
  writeFileSync(join(work, "seed/meta-data"), "instance-id: i-bench\nlocal-hostname: bench\n");
  await sh(`mkfs.vfat -C -n CIDATA '${seed}' 1024 >/dev/null && mcopy -i '${seed}' '${work}/seed/user-data' '${work}/seed/meta-data' ::/`);

  const boot = async (format: "raw" | "initrd") => {
    const image = join(work, "app", format === "raw" ? "disk.raw" : "initrd.img");
    const t0 = performance.now();
    const g = Guest.start({ image, format, memoryMiB: format === "raw" ? 256 : 512, snapshot: true, append: "quiet cvm.once panic=-1", disks: [{ file: seed, readonly: true }], restrict: true, forwards: [{ guest: "10.0.2.100", port: 80, hostPort: served!.port }] });
    try {
      await g.waitFor(/^instance i-bench: done/m, 300_000);
      const agent = (performance.now() - t0) / 1000;
      await g.waitFor(/\[pilot\.sh\] .* ended: exit 0/, 300_000);
      const pilot = (performance.now() - t0) / 1000;
      const ready = await g.waitFor(/cvm-boot: ready at .*RAM used (\d+) of (\d+) MiB/, 300_000);
      const ram = /RAM used (\d+) of (\d+) MiB/.exec(ready)!;
      const cvmAt = Number(/cvm-boot: cvm \S+ started at ([\d.]+) s/.exec(ready)![1]);
      await g.powersOff(120_000);
      return { agent, pilot, ram: Number(ram[1]), total: Number(ram[2]), cvmAt };
    } finally {
      await g.kill();
    }
  };
  const samples: Record<string, Awaited<ReturnType<typeof boot>>[]> = { raw: [], initrd: [] };
  for (let i = 0; i < RUNS; i++) for (const f of ["raw", "initrd"] as const) samples[f].push(await boot(f));
  for (const [f, s] of Object.entries(samples)) {
    console.log(`${f} (qemu -m ${f === "raw" ? 256 : 512}: ${s[0].total} MiB usable, TCG), median of ${RUNS}: qemu start -> cvm running ${median(s.map((x) => x.cvmAt)).toFixed(1)} s (guest uptime), -> agent done ${median(s.map((x) => x.agent)).toFixed(1)} s, -> pilot done ${median(s.map((x) => x.pilot)).toFixed(1)} s wall [${s.map((x) => x.pilot.toFixed(1)).join(", ")}]; guest RAM in use ${median(s.map((x) => x.ram))} MiB`);
  }
} finally {
  await killAll();
  await served?.stop();
  rmSync(work, { recursive: true, force: true });
}
