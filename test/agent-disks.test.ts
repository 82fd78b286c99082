// Context disks without udev: labels read straight from iso9660, FAT and ext
// images made by the real tools (xorriso, mkfs.vfat, mke2fs), garbage and
// truncated images recognised as nothing; and, as root with loop devices,
// disks found through a sysfs tree of their own and by-label links (one disk
// found both ways is tried once), mounted read-only, a disk that cannot be
// mounted or holds hostile content said in one line and the next one read.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Problems } from "../src/agent/problems";
import { findContextDisks, readContextDisk } from "../src/agent/sources/context-disk";
import { readDiskLabel } from "../src/agent/sources/disk-label";
import { hasTools } from "./helpers/tools";

let work: string;
beforeAll(() => { work = mkdtempSync(join(tmpdir(), "cvm-agent-disks-")); });
afterAll(() => rmSync(work, { recursive: true, force: true }));

function sh(argv: string[]): string {
  const p = Bun.spawnSync({ cmd: argv, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${p.stderr.toString()}`);
  return p.stdout.toString().trim();
}
/** A directory with these files in it, for the image tools to copy. */
function tree(name: string, files: Record<string, string>): string {
  const dir = join(work, name);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(dir, rel, ".."), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  mkdirSync(dir, { recursive: true });
  return dir;
}
function sparse(name: string, bytes: number): string {
  const f = join(work, name);
  const fd = openSync(f, "w");
  writeSync(fd, Buffer.alloc(1), 0, 1, bytes - 1);
  closeSync(fd);
  return f;
}
const iso = (name: string, label: string, files: Record<string, string> = { "x.txt": "x\n" }) => {
  const f = join(work, name);
  sh(["xorriso", "-as", "mkisofs", "-quiet", "-V", label, "-o", f, tree(`${name}.d`, files)]);
  return f;
};
const fat = (name: string, label: string | null, fat32 = false) => {
  const f = sparse(name, fat32 ? 64 << 20 : 2 << 20);
  sh(["mkfs.vfat", ...(fat32 ? ["-F", "32"] : []), ...(label === null ? [] : ["-n", label]), f]);
  return f;
};
const ext = (name: string, label: string, files: Record<string, string> = {}) => {
  const f = join(work, name);
  sh(["mke2fs", "-q", "-F", "-t", "ext4", "-L", label, "-d", tree(`${name}.d`, files), f, "4M"]);
  return f;
};

describe.skipIf(!hasTools("xorriso", "mkfs.vfat", "mke2fs"))("labels read from the device", () => {
  test("iso9660 (xorriso -as mkisofs -V): the volume id, trailing spaces dropped", () => {
    expect(readDiskLabel(iso("a.iso", "config-2"))).toEqual({ type: "iso9660", label: "config-2" });
    expect(readDiskLabel(iso("b.iso", "CONTEXT"))).toEqual({ type: "iso9660", label: "CONTEXT" });
  });

  test("FAT12/16 and FAT32 (mkfs.vfat -n): the boot sector's label; none given reads as no label", () => {
    expect(readDiskLabel(fat("a.fat", "cidata"))).toEqual({ type: "vfat", label: "cidata" });
    expect(readDiskLabel(fat("b.fat", "CONTEXT", true))).toEqual({ type: "vfat", label: "CONTEXT" });
    expect(readDiskLabel(fat("c.fat", null))).toEqual({ type: "vfat", label: "" });
  });

  test("ext4 (mke2fs -L): the superblock's volume name", () => {
    expect(readDiskLabel(ext("a.ext4", "CONTEXT"))).toEqual({ type: "ext4", label: "CONTEXT" });
    expect(readDiskLabel(ext("b.ext4", "cidata"))).toEqual({ type: "ext4", label: "cidata" });
  });

  test("truncated images, garbage, zeros, a boot signature with no sane BPB: no filesystem, no exception", () => {
    const whole = readFileSync(iso("t.iso", "CONTEXT"));
    const cut = (name: string, bytes: Buffer) => { const f = join(work, name); writeFileSync(f, bytes); return f; };
    expect(readDiskLabel(cut("t1.iso", whole.subarray(0, 32768 + 40)))).toBeNull();
    expect(readDiskLabel(cut("t2.img", readFileSync(ext("t.ext4", "CONTEXT")).subarray(0, 1100)))).toBeNull();
    expect(readDiskLabel(cut("empty.img", Buffer.alloc(0)))).toBeNull();
    expect(readDiskLabel(cut("zeros.img", Buffer.alloc(64 << 10)))).toBeNull();
    // a fixed pseudo-random pattern (the same on every run)
    const garbage = Buffer.alloc(40000);
    for (let i = 0, x = 12345; i < garbage.length; i++) { x = (x * 1103515245 + 12345) & 0x7fffffff; garbage[i] = x >> 16; }
    expect(readDiskLabel(cut("garbage.img", garbage))).toBeNull();
    const mbr = Buffer.alloc(512);
    mbr[510] = 0x55; mbr[511] = 0xaa;
    expect(readDiskLabel(cut("mbr.img", mbr))).toBeNull();
  });

  test("a label with control characters is read as it is (never matched, escaped where shown)", () => {
    const f = readFileSync(ext("ctl.ext4", "CONTEXT"));
    f.write("CON\nTEXT\x1b", 1024 + 0x78, "latin1");
    writeFileSync(join(work, "ctl2.ext4"), f);
    expect(readDiskLabel(join(work, "ctl2.ext4"))).toEqual({ type: "ext4", label: "CON\nTEXT\x1b" });
  });

  test("a device that cannot be opened: one line naming it", () => {
    expect(() => readDiskLabel(join(work, "missing.img"))).toThrow(`${join(work, "missing.img")}: cannot open: ENOENT: no such file or directory`);
  });
});

const loopReady = process.getuid?.() === 0 && existsSync("/dev/loop-control") && hasTools("losetup", "mke2fs", "xorriso", "mount", "umount");

describe.skipIf(!loopReady)("disks found in sysfs, mounted and read (loop devices)", () => {
  const loops: string[] = [];
  let sys: string, dev: string, runDir: string;
  /** Attaches an image read-only and lists it in the test's own sysfs and /dev, as the kernel and devtmpfs would. */
  function attach(image: string): string {
    const loop = sh(["losetup", "-f", "--show", "-r", image]);
    loops.push(loop);
    const name = loop.slice("/dev/".length);
    mkdirSync(join(sys, "class/block", name), { recursive: true });
    for (const f of ["dev", "size"]) writeFileSync(join(sys, "class/block", name, f), readFileSync(`/sys/class/block/${name}/${f}`));
    const st = statSync(loop);
    sh(["mknod", join(dev, name), "b", String(Number(BigInt(st.rdev) >> 8n & 0xfffn)), String(st.rdev & 0xff | (st.rdev >> 12) & ~0xff)]);
    return join(dev, name);
  }
  beforeAll(() => {
    sys = join(work, "sys"); dev = join(work, "dev"); runDir = join(work, "run");
    mkdirSync(join(sys, "class/block"), { recursive: true });
    mkdirSync(join(dev, "disk/by-label"), { recursive: true });
  });
  afterAll(() => {
    for (const l of loops) Bun.spawnSync(["losetup", "-d", l]);
  });

  test("by priority of label; a hostile disk and one that cannot be mounted are one line each, the next disk is read", () => {
    const hostile = attach(ext("hostile.ext4", "CONTEXT", { "context.sh": "EC2_USER_DATA='%%% not base64 %%%'\n" }));
    const cd = attach(iso("nocontext.iso", "CONTEXT"));
    const good = attach(ext("good.ext4", "cidata", { "user-data": "[cernvm]\nrepositories = atlas\n", "meta-data": "instance-id: i-disk\n" }));
    attach(ext("other.ext4", "DATA"));
    // the same disk through udev's link: found once
    symlinkSync(good, join(dev, "disk/by-label/cidata"));
    const notes: string[] = [];
    const found = findContextDisks((s) => notes.push(s), { sysRoot: sys, devRoot: dev });
    expect(found).toEqual([
      { dev: hostile, label: "CONTEXT", type: "ext4" },
      { dev: cd, label: "CONTEXT", type: "iso9660" },
      { dev: good, label: "cidata", type: "ext4" },
    ]);
    const tried: string[] = [];
    const r = readContextDisk(new Problems(), (s) => notes.push(s), tried, { sysRoot: sys, devRoot: dev, runDir });
    expect(r).toMatchObject({ name: `NoCloud seed ${good}`, instanceId: "i-disk" });
    expect(Buffer.from(r!.userData!).toString()).toBe("[cernvm]\nrepositories = atlas\n");
    expect(tried[0]).toBe(`context disk ${hostile} (ext4, label CONTEXT): ${hostile}/context.sh: EC2_USER_DATA: not valid base64`);
    // where the kernel has no iso9660 the disk cannot be mounted; where it has, it holds no context files
    expect(tried[1]).toMatch(new RegExp(`^context disk ${cd} \\(iso9660, label CONTEXT\\): (cannot mount: .+|no context files on it)$`));
    expect(tried).toHaveLength(2);
    // nothing left mounted, no mount point left behind
    expect(readFileSync("/proc/mounts", "utf8")).not.toContain(runDir);
    expect(readdirSync(runDir)).toEqual([]);
  });

  test("a device node that is not the device sysfs names, and sysfs entries without one: skipped with a line", () => {
    const sys2 = join(work, "sys2"), dev2 = join(work, "dev2");
    mkdirSync(join(sys2, "class/block/vdz"), { recursive: true });
    writeFileSync(join(sys2, "class/block/vdz/dev"), "254:99\n");
    writeFileSync(join(sys2, "class/block/vdz/size"), "8192\n");
    mkdirSync(join(sys2, "class/block/vdy"), { recursive: true });
    writeFileSync(join(sys2, "class/block/vdy/dev"), "254:98\n");
    writeFileSync(join(sys2, "class/block/vdy/size"), "8192\n");
    mkdirSync(dev2);
    writeFileSync(join(dev2, "vdz"), readFileSync(ext("plain.ext4", "CONTEXT")));
    const notes: string[] = [];
    expect(findContextDisks((s) => notes.push(s), { sysRoot: sys2, devRoot: dev2 })).toEqual([]);
    expect(notes).toEqual([`${dev2}/vdy: no device node (block device 254:98); skipped`, `${dev2}/vdz: not block device 254:99; skipped`]);
  });
});
