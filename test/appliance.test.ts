// `cvm appliance build` and guests booted from what it makes, under qemu (TCG): the whole chain in one
// boot (context disk → network → agent → repository mounted → pilot run from /cvmfs as its user, its
// output on the console), the OS from a CernVM-FS repository, and what goes wrong said in one line.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Guest, killAll } from "./helpers/qemu";
import { cvm, run } from "./helpers/run";
import { publishRepository, serveStorage, sync, type Published, type Served } from "./helpers/stratum";
import { hasTools } from "./helpers/tools";

const KERNEL = existsSync("/boot") && readdirSync("/boot").some((f) => f.startsWith("vmlinuz-"));
if (!KERNEL && process.env.CVM_REQUIRE_TOOLS === "1") throw new Error("required: a kernel in /boot (linux-image-amd64)");
const CAN_BUILD = KERNEL && hasTools("busybox", "zstd", "mkfs.vfat", "mcopy", "syslinux", "mke2fs", "debugfs", "xorriso", "cpio");
const CAN_BOOT = CAN_BUILD && hasTools("qemu-system-x86_64") && process.getuid?.() === 0;

const FQRN = "pilot.cvm.test";
const MAC = "52:54:00:12:34:56"; // qemu's address for the first NIC
const REPO_HOST = "10.0.2.100";  // forwarded to `cvm serve` on the host; with restrict=on nothing else is reachable
let work: string, out: string, repo: Published, served: Served, key64: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cvm-appliance-test-"));
  out = join(work, "appliance");
  if (!CAN_BUILD) return;
  const built = await cvm(["appliance", "build", "-f", "initrd,raw,iso,tree", "-o", out, "--cmdline", "quiet cvm.once"]);
  if (built.code !== 0) throw new Error(`appliance build: ${built.stderr}`);
  const src = join(work, "pilot-src");
  mkdirSync(src);
  writeFileSync(join(src, "pilot.sh"), '#!/bin/sh\necho "pilot: running as $(id -un) (uid $(id -u)) on $(hostname)"\necho "pilot: payload $(cat /cvmfs/pilot.cvm.test/payload.txt)"\n');
  chmodSync(join(src, "pilot.sh"), 0o755);
  writeFileSync(join(src, "payload.txt"), "from the repository\n");
  repo = await publishRepository(work, FQRN, src);
  served = await serveStorage(repo.storage);
  key64 = Buffer.from(readFileSync(join(repo.keys, `${FQRN}.pub`))).toString("base64");
}, 300_000);

afterAll(async () => {
  await killAll();
  await served?.stop();
  rmSync(work, { recursive: true, force: true });
}, 60_000);

const userData = (server = `http://${REPO_HOST}/cvmfs/${FQRN}`) => [
  "[cernvm]", "users = pilot:pilot:secret", `extra_repositories = ${FQRN}|${server}|${key64}`,
  `contextualization_command = pilot:/cvmfs/${FQRN}/pilot.sh`, "[cvmfs]", "CVMFS_HTTP_PROXY = DIRECT", "CVMFS_TIMEOUT = 3", "CVMFS_TIMEOUT_DIRECT = 3", "",
].join("\n");

/** A NoCloud seed: a FAT image labelled CIDATA, written with mtools (no mount). */
async function noCloudDisk(name: string, files: Record<string, string>): Promise<string> {
  const dir = join(work, name), img = join(work, `${name}.img`);
  mkdirSync(dir);
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  for (const argv of [["mkfs.vfat", "-C", "-n", "CIDATA", img, "1024"], ["mcopy", "-i", img, ...Object.keys(files).map((f) => join(dir, f)), "::/"]]) {
    const r = await run(argv);
    if (r.code !== 0) throw new Error(`${argv[0]}: ${r.stderr}`);
  }
  return img;
}

/** An OpenNebula context CD: iso9660 labelled CONTEXT holding context.sh. */
async function openNebulaDisk(name: string, contextSh: string): Promise<string> {
  const dir = join(work, name), iso = join(work, `${name}.iso`);
  mkdirSync(dir);
  writeFileSync(join(dir, "context.sh"), contextSh);
  const r = await run(["xorriso", "-as", "mkisofs", "-quiet", "-V", "CONTEXT", "-J", "-R", "-o", iso, dir]);
  if (r.code !== 0) throw new Error(`xorriso: ${r.stderr}`);
  return iso;
}

const forward = () => [{ guest: REPO_HOST, port: 80, hostPort: served.port }];
const BOOT_MS = 240_000; // TCG on a loaded 2-core machine; a normal boot takes 10-20 s

describe.skipIf(!CAN_BUILD)("cvm appliance build", () => {
  test("every format is written, with a manifest; the initramfs is a cpio of root-owned files with cvm, its libraries, busybox and the modules in load order", async () => {
    const manifest = JSON.parse(readFileSync(join(out, "appliance.json"), "utf8"));
    expect(manifest.formats.map((f: { format: string }) => f.format)).toEqual(["initrd", "raw", "iso", "tree"]);
    expect(readdirSync(out).filter((f) => f.includes(".tmp-"))).toEqual([]);
    const listing = await run(["sh", "-c", `zstd -dc '${join(out, "initrd.img")}' | cpio -itv --quiet`]);
    expect(listing.code).toBe(0);
    const entries = new Map(listing.stdout.trim().split("\n").map((l) => { const w = l.split(/\s+/); return [w[8], { mode: w[0], owner: `${w[2]}:${w[3]}`, size: Number(w[4]) }]; }));
    expect([...entries.values()].every((e) => e.owner === "root:root")).toBe(true);
    expect(entries.get("init")?.mode).toBe("-rwxr-xr-x");
    expect(entries.get("usr/bin/cvm")?.size).toBe(Bun.file(join(import.meta.dir, "..", "dist", "cvm")).size);
    expect(entries.get("lib64/ld-linux-x86-64.so.2")?.mode).toStartWith("-"); // the loader itself, not the host's link
    expect(entries.get("bin/sh")?.mode).toStartWith("l");
    const tree = join(out, "tree");
    const kver = readdirSync(join(tree, "lib/modules"))[0];
    const order = readFileSync(join(tree, "lib/modules", kver, "cvm.load"), "utf8").trim().split("\n").map((l) => l.split(" ")[0]);
    for (const [dep, mod] of [["jbd2", "ext4"], ["fat", "vfat"], ["cdrom", "sr_mod"], ["virtio", "virtio_blk"]]) {
      if (order.includes(dep)) expect(order.indexOf(dep)).toBeLessThan(order.indexOf(mod));
    }
    for (const m of ["virtio_net", "fuse", "overlay", "isofs", "ext4", "ata_piix"]) expect(order).toContain(m);
  });

  test("the raw disk: an MBR with a bootable FAT partition (syslinux, kernel, initramfs) and an ext4 root owned by root, written without mounting", async () => {
    const disk = join(out, "disk.raw");
    const mbr = new Uint8Array(await Bun.file(disk).slice(0, 512).arrayBuffer());
    const view = new DataView(mbr.buffer);
    expect([mbr[510], mbr[511]]).toEqual([0x55, 0xaa]);
    expect([mbr[446], mbr[446 + 4], view.getUint32(446 + 8, true)]).toEqual([0x80, 0x0e, 2048]);
    expect(mbr[462 + 4]).toBe(0x83);
    const fat = await run(["mdir", "-a", "-b", "-i", `${disk}@@1M`, "::/"], { env: { MTOOLS_SKIP_CHECK: "1" } });
    expect(fat.stdout.split("\n").map((l) => l.replace(/^::\//, "")).filter(Boolean).sort()).toEqual(["initrd.img", "ldlinux.c32", "ldlinux.sys", "syslinux.cfg", "vmlinuz"]);
    const rootStart = view.getUint32(462 + 8, true) * 512;
    const ext4 = join(work, "root.ext4");
    const cut = await run(["sh", "-c", `dd if='${disk}' of='${ext4}' bs=1M skip=${rootStart >> 20} status=none`]);
    expect(cut.code).toBe(0);
    const st = await run(["debugfs", "-R", "stat /usr/bin/cvm", ext4]);
    expect(st.stdout).toMatch(/User:\s+0\s+Group:\s+0/);
    expect(st.stdout).toContain(`Size: ${Bun.file(join(import.meta.dir, "..", "dist", "cvm")).size}`);
  });

  test("bad input: a missing kernel, a module that does not exist, an unknown format — one line each, exit 1 or 2, nothing written", async () => {
    const dir = join(work, "bad");
    const cases: [string[], number, RegExp][] = [
      [["--kernel", join(work, "no-such-vmlinuz")], 1, /^cvm: --kernel .*no-such-vmlinuz: no such file\n$/],
      [["--kernel", join(work, "appliance", "appliance.json")], 1, /^cvm: --kernel .*: not an x86 bzImage \(no "HdrS" setup header\)\n$/],
      [["--module", "no_such_module"], 1, /^cvm: module no_such_module: not in \/lib\/modules\/.*\/modules\.dep nor built into the kernel\n$/],
      [["--format", "floppy"], 2, /^cvm: --format 'floppy': expected initrd, raw, iso, tree\n$/],
      [["--include", "relative/path:etc/x"], 2, /^cvm: --include 'relative\/path:etc\/x': expected HOST\[:GUEST\] with GUEST an absolute path without '\.\.'\n$/],
      [["--root-repository", "os.cvm.test"], 2, /^cvm: --root-repository needs --root-server URL and --root-key FILE\n$/],
    ];
    for (const [args, code, line] of cases) {
      const r = await cvm(["appliance", "build", "-o", dir, ...args]);
      // a usage error (exit 2) adds the project's usual pointer to --help
      const [first, ...rest] = r.stderr.split(/(?<=\n)/);
      expect([r.code, first, rest]).toEqual([code, expect.stringMatching(line), code === 2 ? ["Run 'cvm appliance build --help' for usage.\n"] : []]);
    }
    expect(existsSync(dir) ? readdirSync(dir).filter((f) => f !== "vmlinuz") : []).toEqual([]);
  });

  test("`cvm appliance boot` on a machine that is not an appliance refuses in one line and touches nothing", async () => {
    const r = await cvm(["appliance", "boot"]);
    expect([r.code, r.stderr]).toEqual([1, "cvm: appliance boot: this is not an appliance (no /etc/cvm-appliance.conf); it is run by an appliance's init, and would reconfigure this machine's network\n"]);
  });
});

describe.skipIf(!CAN_BOOT)("a guest booted from the appliance (qemu, TCG)", () => {
  test("raw disk in 256 MB, NoCloud seed: source found without udev, user made, repository mounted, the pilot run from /cvmfs as its user, its output on the console, then power-off", async () => {
    const seed = await noCloudDisk("nocloud", { "user-data": userData(), "meta-data": "instance-id: i-nocloud-1\nlocal-hostname: worker1\n" });
    const g = Guest.start({ image: join(out, "disk.raw"), format: "raw", memoryMiB: 256, snapshot: true, disks: [{ file: seed, readonly: true }], restrict: true, forwards: forward() });
    try {
      const console = await g.powersOff(BOOT_MS);
      expect(console).toMatch(/context disk \/dev\/vd[a-z] \(vfat, label CIDATA\): read/);
      expect(console).toMatch(/cvm-boot: network: eth0 10\.0\.2\.15\/24 \(DHCP/);
      expect(console).toMatch(/step users: ok/);
      expect(console).toMatch(new RegExp(`step mount ${FQRN.replace(/\./g, "\\.")}: ok`));
      expect(console).toContain("[pilot.sh] pilot: running as pilot (uid 1000) on worker1\n");
      expect(console).toContain("[pilot.sh] pilot: payload from the repository\n");
      expect(console).toContain(`[pilot.sh] /cvmfs/${FQRN}/pilot.sh (as pilot) ended: exit 0`);
      expect(console).toMatch(/cvm-boot: ready at [\d.]+ s: contextualized/);
      expect(console).not.toMatch(/TypeError|internal error|Initramfs unpacking failed|Kernel panic/);
    } finally {
      await g.kill();
    }
  }, BOOT_MS + 30_000);

  test("initrd, an OpenNebula context CD on IDE: the context's static address applied live, user_data from context.sh, the pilot run", async () => {
    const ctx = await openNebulaDisk("one", [
      `ETH0_MAC='${MAC}'`, "ETH0_IP='10.0.2.15'", "ETH0_MASK='255.255.255.0'", "ETH0_GATEWAY='10.0.2.2'", "ETH0_DNS='10.0.2.3'",
      "SET_HOSTNAME='one-worker'", "VMID='42'", `USER_DATA='${Buffer.from(userData()).toString("base64")}'`, "USERDATA_ENCODING='base64'", "",
    ].join("\n"));
    const g = Guest.start({ image: join(out, "initrd.img"), format: "initrd", memoryMiB: 512, append: "quiet cvm.once panic=-1", disks: [{ file: ctx, cdrom: true }], restrict: true, forwards: forward() });
    try {
      const console = await g.powersOff(BOOT_MS);
      expect(console).toMatch(/cvm-boot: network: the context's configuration applied \(\d+ ip commands\)/);
      expect(console).toMatch(/cvm-boot: network: eth0 10\.0\.2\.15\/24 \(static/);
      expect(console).toMatch(/context disk \/dev\/sr0 \(iso9660, label CONTEXT\): read/);
      expect(console).toContain("[pilot.sh] pilot: running as pilot (uid 1000) on one-worker\n");
      expect(console).toContain("[pilot.sh] pilot: payload from the repository\n");
      expect(console).toMatch(/cvm-boot: ready at/);
    } finally {
      await g.kill();
    }
  }, BOOT_MS + 30_000);

  test("a CPU without SSE4.2/POPCNT: the first line from the image says what it lacks (no silent SIGILL), then power-off with cvm.once", async () => {
    const g = Guest.start({ image: join(out, "initrd.img"), format: "initrd", cpu: "qemu64", append: "quiet cvm.once panic=-1", restrict: true });
    try {
      const console = await g.powersOff(BOOT_MS);
      expect(console).toMatch(/cvm-boot: failed: this CPU lacks sse4_2 popcnt, which cvm needs \(x86-64 with SSE4\.2 and POPCNT: qemu -cpu max/);
      expect(console).not.toContain("cvm-boot: cvm ");
    } finally {
      await g.kill();
    }
  }, BOOT_MS + 30_000);

  test("a repository that does not answer: the mount step fails in one line, the boot says it failed, and with cvm.shell the console still has a shell", async () => {
    const seed = await noCloudDisk("deadrepo", { "user-data": userData(`http://${REPO_HOST}:81/cvmfs/${FQRN}`), "meta-data": "instance-id: i-dead\n" });
    const g = Guest.start({ image: join(out, "initrd.img"), format: "initrd", append: "quiet cvm.shell panic=-1", disks: [{ file: seed, readonly: true }], restrict: true, forwards: forward() });
    try {
      const console = await g.waitFor(/cvm-boot: failed at [\d.]+ s: the agent exited 1/, BOOT_MS);
      const line = console.split("\n").find((l) => l.startsWith(`step mount ${FQRN}: failed: `));
      expect(line).toBeDefined();
      expect(console).toMatch(/step commands: failed: .*pilot\.sh \(as pilot\)/);
      expect(console).not.toMatch(/TypeError|internal error|\n\s+at /);
      await g.waitFor("Please press Enter to activate this console.", BOOT_MS);
      g.type("");
      g.type("echo alive-$((6*7)); cvm agent status | head -1");
      const after = await g.waitFor("alive-42\nstatus: error", 60_000);
      expect(after).toContain("alive-42");
    } finally {
      await g.kill();
    }
  }, 2 * BOOT_MS);

  test("a hostile context disk (a broken context.sh, a DNS value with a command in it): one line for the network, one for the agent, the guest powers off", async () => {
    const ctx = await openNebulaDisk("hostile", `ETH0_MAC='${MAC}'\nETH0_IP='10.0.2.15'\nETH0_DNS='10.0.2.3; reboot'\nUSER_DATA='x'\n;\n`);
    const g = Guest.start({ image: join(out, "initrd.img"), format: "initrd", append: "quiet cvm.once panic=-1", disks: [{ file: ctx, cdrom: true }], restrict: true });
    try {
      const console = await g.powersOff(BOOT_MS);
      expect(console).toMatch(/cvm-boot: network: context disk \/dev\/sr0 \(iso9660, label CONTEXT\): .*context\.sh line 5: ';' with no command before it/);
      expect(console).toMatch(/cvm-boot: network: eth0 10\.0\.2\.15\/24 \(DHCP/);
      expect(console).toMatch(/cvm-boot: failed at [\d.]+ s: the agent exited 1/);
      expect(console).not.toMatch(/TypeError|internal error|\n\s+at |Kernel panic/);
    } finally {
      await g.kill();
    }
  }, BOOT_MS + 30_000);

  test("--root-repository: the OS is the repository mounted read-only with an overlay; the second revision published on the host is what boots", async () => {
    const osFqrn = "os.cvm.test";
    const tree = join(out, "tree");
    const os = await publishRepository(join(work, "os"), osFqrn, tree);
    writeFileSync(join(tree, "etc/os-release"), 'NAME="cvm appliance"\nPRETTY_NAME="cvm appliance, second revision"\n');
    await sync(os, tree);
    const osServed = await serveStorage(os.storage);
    const image = join(work, "os-image");
    try {
      const built = await cvm(["appliance", "build", "-f", "initrd", "-o", image, "--root-repository", osFqrn,
        "--root-server", `http://${REPO_HOST}/cvmfs/${osFqrn}`, "--root-key", join(os.keys, `${osFqrn}.pub`)]);
      expect([built.code, built.stderr]).toEqual([0, ""]);
      const g = Guest.start({ image: join(image, "initrd.img"), format: "initrd", memoryMiB: 1024, append: "quiet cvm.once panic=-1", restrict: true,
        forwards: [{ guest: REPO_HOST, port: 80, hostPort: osServed.port }] });
      try {
        const console = await g.powersOff(BOOT_MS);
        expect(console).toMatch(new RegExp(`cvm-boot: root: ${osFqrn.replace(/\./g, "\\.")} revision 3 on / \\(read-only, a tmpfs overlay on top`));
        expect(console).toMatch(/cvm-boot: cvm [\d.]+ started at [\d.]+ s after power-on \(cvm appliance, second revision\)/);
      } finally {
        await g.kill();
      }
    } finally {
      await osServed.stop();
    }
  }, BOOT_MS + 120_000);
});
