import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import { CvmError } from "../cli/errors";

/** One program of the image tool chain (mkfs, mtools, syslinux, xorriso), its failure named in one line. */
export function tool(cmd: string[], what: string): void {
  let p;
  try {
    p = Bun.spawnSync({ cmd, stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C", MTOOLS_SKIP_CHECK: "1" } });
  } catch {
    throw new CvmError(`${what}: ${cmd[0]} not found (apt-get install ${PACKAGE_OF[cmd[0]] ?? cmd[0]})`);
  }
  if (p.exitCode !== 0) {
    const why = (p.stderr.toString() + p.stdout.toString()).trim().split("\n").filter(Boolean).pop() ?? `exit ${p.exitCode}`;
    throw new CvmError(`${what}: ${cmd[0]} failed: ${why}`);
  }
}

const PACKAGE_OF: Record<string, string> = {
  "mke2fs": "e2fsprogs", "debugfs": "e2fsprogs", "mkfs.vfat": "dosfstools", "mcopy": "mtools", "syslinux": "syslinux",
  "xorriso": "xorriso", "zstd": "zstd",
};

const MiB = 1 << 20;
export const roundMiB = (n: number) => Math.ceil(n / MiB) * MiB;

export interface Partition { file: string; type: number; bootable?: boolean; }

/**
 * A disk of MBR partitions, each copied from its own image file at 1 MiB
 * boundaries (holes kept as holes), the boot code first: what a BIOS and
 * syslinux's mbr.bin need to find the active partition.
 */
export function writeDisk(out: string, bootCode: Uint8Array, parts: Partition[]): number {
  const fd = openSync(out, "w", 0o644);
  try {
    const mbr = new Uint8Array(512);
    mbr.set(bootCode.subarray(0, 440));
    const view = new DataView(mbr.buffer);
    view.setUint32(440, 0x63766d31, true); // the disk signature: "cvm1"
    let lba = 2048;
    const buf = new Uint8Array(MiB);
    for (const [i, p] of parts.entries()) {
      const src = openSync(p.file, "r");
      try {
        const size = roundMiB(fstatSync(src).size);
        const sectors = size / 512;
        const e = 446 + 16 * i;
        mbr[e] = p.bootable ? 0x80 : 0;
        mbr.set([0xfe, 0xff, 0xff], e + 1); // CHS past the end: read the LBA fields
        mbr[e + 4] = p.type;
        mbr.set([0xfe, 0xff, 0xff], e + 5);
        view.setUint32(e + 8, lba, true);
        view.setUint32(e + 12, sectors, true);
        for (let off = 0; off < size; off += MiB) {
          const n = readSync(src, buf, 0, MiB, off);
          if (n === 0) break;
          if (buf.subarray(0, n).some((b) => b !== 0)) writeSync(fd, buf, 0, n, lba * 512 + off);
        }
        lba += sectors;
      } finally {
        closeSync(src);
      }
    }
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    writeSync(fd, mbr, 0, 512, 0);
    ftruncateSync(fd, lba * 512);
    return lba * 512;
  } finally {
    closeSync(fd);
  }
}
