import { closeSync, constants, openSync } from "node:fs";
import { CvmError } from "../../cli/errors";
import { readFull } from "../../sys/read-full";

/**
 * A disk's filesystem label read straight from the device, as blkid would,
 * for machines without udev (an initramfs): only the first 34 KiB are read,
 * enough for the three filesystems context disks use.
 *  - iso9660: the primary volume descriptor at 32768 (type 1, "CD001"),
 *    volume identifier at bytes 40..71, padded with spaces;
 *  - FAT12/16/32: the boot sector (0x55AA at 510, a sane BPB); with the
 *    extended boot signature 0x29 the label is at 0x2B (FAT12/16) or 0x47
 *    (FAT32), 11 bytes; "NO NAME" means none;
 *  - ext2/3/4: the superblock at 1024, magic 0xEF53 at +0x38, the volume
 *    name at +0x78 (16 bytes, NUL-padded).
 * The mount type is the one mount(8) takes (ext4 mounts ext2 and ext3 too).
 */
export type DiskFsType = "iso9660" | "vfat" | "ext4";
export interface DiskLabel { type: DiskFsType; label: string; }

const ISO_PVD = 32768;
const PROBE_BYTES = ISO_PVD + 2048;

/** The label of the filesystem on `path` (a device or an image file); null when it is none of the three. */
export function readDiskLabel(path: string): DiskLabel | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw new CvmError(`${path}: cannot open: ${describe(err)}`);
  }
  try {
    const buf = Buffer.alloc(PROBE_BYTES);
    let n: number;
    try {
      n = readFull(fd, buf, 0);
    } catch (err) {
      throw new CvmError(`${path}: cannot read: ${describe(err)}`);
    }
    return parseDiskLabel(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

/** The same from the first bytes of a disk (fewer than 34 KiB: only what fits is recognised). */
export function parseDiskLabel(b: Buffer): DiskLabel | null {
  if (b.length >= ISO_PVD + 72 && b[ISO_PVD] === 1 && b.toString("latin1", ISO_PVD + 1, ISO_PVD + 6) === "CD001")
    return { type: "iso9660", label: text(b, ISO_PVD + 40, 32) };
  if (b.length >= 1024 + 0x78 + 16 && b.readUInt16LE(1024 + 0x38) === 0xef53)
    return { type: "ext4", label: text(b, 1024 + 0x78, 16) };
  if (b.length >= 512 && b[510] === 0x55 && b[511] === 0xaa && saneBpb(b)) {
    const fat32 = b.readUInt16LE(0x11) === 0 && b.readUInt16LE(0x16) === 0; // no fixed root directory, no 16-bit FAT size
    const sig = fat32 ? 0x42 : 0x26;
    const label = b[sig] === 0x29 ? text(b, sig + 5, 11) : "";
    return { type: "vfat", label: label === "NO NAME" ? "" : label };
  }
  return null;
}

/** A FAT BIOS parameter block: sector size 512..4096 and cluster size powers of two, reserved sectors and FATs present. */
function saneBpb(b: Buffer): boolean {
  const bytesPerSector = b.readUInt16LE(0x0b), sectorsPerCluster = b[0x0d];
  const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
  return pow2(bytesPerSector) && bytesPerSector >= 512 && bytesPerSector <= 4096 && pow2(sectorsPerCluster) && b.readUInt16LE(0x0e) > 0 && b[0x10] > 0;
}

/** A fixed-width label field: up to the first NUL, trailing spaces dropped. */
function text(b: Buffer, at: number, len: number): string {
  const field = b.subarray(at, at + len);
  const nul = field.indexOf(0);
  return field.toString("latin1", 0, nul < 0 ? len : nul).replace(/ +$/, "");
}

/** "EIO: i/o error" without node's ", read '/dev/sr0'" (the path is said already). */
function describe(err: unknown): string {
  return String((err as Error).message ?? err).replace(/, (open|read) '.*'$/, "");
}
