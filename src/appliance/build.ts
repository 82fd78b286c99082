import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createGzip } from "node:zlib";
import { CvmError } from "../cli/errors";
import { writeFileAtomic } from "../sys/atomic";
import { cpioPieces } from "./cpio";
import { roundMiB, tool, writeDisk } from "./disk";
import { findKernel, type Kernel } from "./kernel";
import { bootTree, findBusybox, rootTree, type Extra, type GeneratedFile, type TreeParts } from "./layout";
import { DEFAULT_MODULES, resolveModules } from "./modules";
import type { ImageTree } from "./tree";

export const FORMATS = ["initrd", "raw", "iso", "tree"] as const;
export type Format = (typeof FORMATS)[number];

export interface BuildOptions {
  formats: Format[];
  out: string;
  kernel?: string;
  modulesDir?: string;
  modules: string[];         // beyond DEFAULT_MODULES
  extras: Extra[];
  packages: string[];
  cmdline: string;           // appended to the console arguments
  cvm: string;               // the binary to put in (this one)
  busybox?: string;
  rootRepository?: RootRepository;
  rootFreeMiB: number;       // room left on the raw image's root (cache, overlay, logs)
  compression: "zstd" | "gzip";
}

/** The OS from CernVM-FS: the repository, where it is served, the master key that signs it. */
export interface RootRepository { fqrn: string; server: string; key: string; proxy: string; }

export interface Output { format: Format; path: string; bytes: number; ms: number; }
export interface BuildResult { kernel: Kernel; modules: number; builtin: string[]; outputs: Output[]; ms: number; manifest: string; }

export const ROOT_LABEL = "cvm-root";
export const CONSOLE_ARGS = "console=tty0 console=ttyS0,115200n8";

/**
 * `cvm appliance build`: kernel and modules from this machine, busybox, cvm;
 * each format written beside the others under --out, each file through a
 * temporary name and renamed when whole. Needs no root: nothing is mounted.
 */
export async function buildAppliance(o: BuildOptions): Promise<BuildResult> {
  const t0 = performance.now();
  const kernel = findKernel(o.kernel, o.modulesDir);
  const { modules, builtin } = resolveModules(kernel.modulesDir, [...DEFAULT_MODULES, ...o.modules]);
  const busybox = findBusybox(o.busybox);
  if (!existsSync(o.cvm)) throw new CvmError(`${o.cvm}: the cvm binary to include is not there`);
  mkdirSync(o.out, { recursive: true });
  const parts: TreeParts = {
    kernel, modules, busybox, cvm: o.cvm, extras: o.extras, packages: o.packages,
    stage: { kernelVersion: kernel.version, rootRepository: o.rootRepository?.fqrn }, files: o.rootRepository ? rootRepositoryFiles(o.rootRepository) : [],
  };
  const outputs: Output[] = [];
  const timed = async (format: Format, path: string, work: () => Promise<void> | void) => {
    const t = performance.now();
    await work();
    outputs.push({ format, path, bytes: statSync(path).isDirectory() ? 0 : statSync(path).size, ms: Math.round(performance.now() - t) });
  };
  const vmlinuz = join(o.out, "vmlinuz");
  writeFileAtomic(vmlinuz, readFileSync(kernel.path), 0o644);
  const cmdline = `${CONSOLE_ARGS} ${o.cmdline}`.trim();
  let initrd: string | undefined;
  for (const format of o.formats) {
    if (format === "initrd" || format === "iso") {
      if (!initrd) {
        initrd = join(o.out, "initrd.img");
        await timed("initrd", initrd, () => writeInitrd(rootTree(parts), initrd!, o.compression));
      }
      if (format === "iso") await timed("iso", join(o.out, "appliance.iso"), () => writeIso(join(o.out, "appliance.iso"), vmlinuz, initrd!, cmdline));
    } else if (format === "raw") {
      await timed("raw", join(o.out, "disk.raw"), () => writeRaw(join(o.out, "disk.raw"), parts, vmlinuz, cmdline, o));
    } else {
      const dir = join(o.out, "tree");
      // a tree is what a root repository holds: it boots from its own disk no further
      await timed("tree", dir, () => writeTree(dir, rootTree({ ...parts, stage: { kernelVersion: kernel.version }, files: [] })));
    }
  }
  const manifest = join(o.out, "appliance.json");
  writeFileAtomic(manifest, JSON.stringify({
    kernel: kernel.version, cmdline, formats: outputs.map((x) => ({ format: x.format, file: x.path.slice(o.out.length + 1), bytes: x.bytes })),
    cpu: "x86-64 with SSE4.2 and POPCNT (qemu: -cpu max)", root_repository: o.rootRepository?.fqrn ?? null, built: new Date().toISOString(),
  }, null, 2) + "\n", 0o644);
  return { kernel, modules: modules.length, builtin, outputs, ms: Math.round(performance.now() - t0), manifest };
}

/** The client configuration of the root repository, as the stock client reads it (config.d, keys). */
function rootRepositoryFiles(r: RootRepository): GeneratedFile[] {
  let pem: string;
  try { pem = readFileSync(r.key, "utf8"); } catch { throw new CvmError(`--root-key ${r.key}: cannot read it`); }
  if (!/^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n?$/.test(pem)) throw new CvmError(`--root-key ${r.key}: not a PEM public key (the repository's master key, <fqrn>.pub)`);
  return [
    { path: `/etc/cvmfs/keys/${r.fqrn}.pub`, content: pem },
    { path: `/etc/cvmfs/config.d/${r.fqrn}.conf`, content: [`CVMFS_SERVER_URL=${r.server}`, `CVMFS_HTTP_PROXY=${r.proxy}`, `CVMFS_PUBLIC_KEY=/etc/cvmfs/keys/${r.fqrn}.pub`].join("\n") + "\n" },
  ];
}

/** The tree as a newc cpio, compressed by zstd (multi-threaded) or gzip, into `out` through a temporary file. */
async function writeInitrd(tree: ImageTree, out: string, compression: "zstd" | "gzip"): Promise<void> {
  await intoPlace(out, async (tmp) => {
    const fd = openSync(tmp, "w", 0o644);
    try {
      if (compression === "zstd") {
        const z = Bun.spawn({ cmd: ["zstd", "-T0", "-9", "-q", "-c"], stdin: "pipe", stdout: fd, stderr: "pipe", env: { PATH: "/usr/bin:/bin" } });
        for (const piece of cpioPieces(tree.cpioEntries(), 0)) { z.stdin.write(piece); await z.stdin.flush(); }
        await z.stdin.end();
        if ((await z.exited) !== 0) throw new CvmError(`${out}: zstd failed: ${(await new Response(z.stderr).text()).trim() || `exit ${z.exitCode}`}`);
      } else {
        const gz = createGzip({ level: 6 });
        const done = new Promise<void>((resolve, reject) => { gz.on("data", (c: Buffer) => writeSync(fd, c)); gz.on("end", resolve); gz.on("error", reject); });
        for (const piece of cpioPieces(tree.cpioEntries(), 0)) if (!gz.write(piece)) await new Promise((r) => gz.once("drain", r));
        gz.end();
        await done;
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  });
}

/**
 * What `write` makes at a temporary name beside `out` is renamed to `out`
 * once whole (an old `out` replaced); on failure it is removed, and `out`
 * is as it was.
 */
async function intoPlace(out: string, write: (tmp: string) => Promise<void> | void): Promise<void> {
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    await write(tmp);
    if (statSync(tmp).isDirectory()) rmSync(out, { recursive: true, force: true });
    renameSync(tmp, out);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

const writeTree = (dir: string, tree: ImageTree) => intoPlace(dir, (tmp) => tree.stage(tmp));

const SYSLINUX_MBR = ["/usr/lib/syslinux/mbr/mbr.bin", "/usr/lib/SYSLINUX/mbr.bin"];
const ISOLINUX = ["/usr/lib/ISOLINUX/isolinux.bin", "/usr/lib/syslinux/isolinux.bin"];
const LDLINUX = ["/usr/lib/syslinux/modules/bios/ldlinux.c32", "/usr/lib/syslinux/ldlinux.c32"];
const firstOf = (paths: string[], pkg: string) => {
  const p = paths.find((x) => existsSync(x));
  if (!p) throw new CvmError(`${paths[0]}: not found (apt-get install ${pkg})`);
  return p;
};

const bootConfig = (cmdline: string) => `DEFAULT cvm\nPROMPT 0\nTIMEOUT 0\nLABEL cvm\n  LINUX /vmlinuz\n  INITRD /initrd.img\n  APPEND ${cmdline}\n`;

/**
 * A bootable disk: partition 1 FAT (syslinux, the kernel, a small initramfs
 * that finds the root), partition 2 ext4 labelled cvm-root (everything else,
 * paged from disk), both written as files (mkfs.vfat + mtools + syslinux
 * --install, mke2fs -d) and then laid into one image: no loop device, no mount.
 */
async function writeRaw(out: string, parts: TreeParts, vmlinuz: string, cmdline: string, o: BuildOptions): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "cvm-appliance-"));
  try {
    const bootInitrd = join(work, "initrd.img");
    await writeInitrd(bootTree({ ...parts, stage: { ...parts.stage, rootLabel: ROOT_LABEL } }), bootInitrd, "gzip");
    const fat = join(work, "boot.fat");
    const cfg = join(work, "syslinux.cfg");
    writeFileAtomic(cfg, bootConfig(cmdline), 0o644);
    const fatBytes = roundMiB(statSync(vmlinuz).size + statSync(bootInitrd).size + 4 * (1 << 20));
    tool(["mkfs.vfat", "-C", "-n", "CVMBOOT", fat, String(Math.max(fatBytes, 33 << 20) / 1024)], "the boot partition");
    tool(["syslinux", "--install", fat], "the boot loader");
    tool(["mcopy", "-i", fat, vmlinuz, bootInitrd, cfg, "::/"], "the boot partition");

    const stage = join(work, "root");
    const tree = rootTree(parts);
    tree.stage(stage);
    const root = join(work, "root.ext4");
    const rootBytes = roundMiB(tree.size() * 1.1 + o.rootFreeMiB * (1 << 20) + (32 << 20));
    tool(["mke2fs", "-q", "-F", "-t", "ext4", "-L", ROOT_LABEL, "-d", stage, "-E", "root_owner=0:0", root, `${rootBytes / 1024}k`], "the root file system");
    if (process.getuid?.() !== 0) ownByRoot(root, tree);

    await intoPlace(out, (tmp) => {
      writeDisk(tmp, readFileSync(firstOf(SYSLINUX_MBR, "syslinux")), [{ file: fat, type: 0x0e, bootable: true }, { file: root, type: 0x83 }]);
      const fd = openSync(tmp, "r+");
      try { fsyncSync(fd); } finally { closeSync(fd); }
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Built by another user, mke2fs -d copies that user's ids: every inode is given to root with debugfs. */
function ownByRoot(image: string, tree: ImageTree): void {
  const script = join(tmpdir(), `cvm-debugfs-${process.pid}`);
  const lines = tree.paths().flatMap((p) => [`sif "${p}" uid 0`, `sif "${p}" gid 0`]);
  writeFileAtomic(script, lines.join("\n") + "\n", 0o600);
  try { tool(["debugfs", "-w", "-f", script, image], "the root file system's owners"); } finally { rmSync(script, { force: true }); }
}

/** An El Torito CD (isolinux) holding the initrd format: boots anywhere a CD does, everything in RAM. */
async function writeIso(out: string, vmlinuz: string, initrd: string, cmdline: string): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "cvm-iso-"));
  try {
    mkdirSync(join(work, "isolinux"));
    for (const [from, to] of [[firstOf(ISOLINUX, "isolinux"), "isolinux/isolinux.bin"], [firstOf(LDLINUX, "syslinux-common"), "isolinux/ldlinux.c32"], [vmlinuz, "vmlinuz"], [initrd, "initrd.img"]]) {
      writeFileAtomic(join(work, to), readFileSync(from), 0o644);
    }
    writeFileAtomic(join(work, "isolinux/isolinux.cfg"), bootConfig(cmdline), 0o644);
    await intoPlace(out, (tmp) => {
      tool(["xorriso", "-as", "mkisofs", "-quiet", "-o", tmp, "-V", "CVM-APPLIANCE", "-J", "-R", "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat",
        "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table", work], "the ISO image");
      chmodSync(tmp, 0o644);
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
