/**
 * Small-block (4 KiB) sequential reads of a 100 MB file through a FUSE
 * session, served from a local file the way a cache serves it:
 *   passthrough            the kernel reads the backing file itself
 *   READ (page cache)      READ requests, readahead-sized, through this daemon
 *   READ (direct_io)       every 4 KiB read(2) is a READ request (the worst case)
 * the READ rows twice: the filesystem reading its local file with pread on the
 * main thread (readSync: microseconds for a page-cached file) and with
 * FileHandle.read (Bun's thread pool, a hop each way);
 * and the local file itself as the reference. Each run is a fresh mount (a cold
 * FUSE page cache over a warm local file). Prints MB/s and the daemon's RSS.
 * Root only:  bun bench/fuse-read.ts [size-MiB]
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from "node:fs";
import { open as openAsync, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FuseError, type Attr, type ReadOnlyFilesystem } from "../src/fuse/filesystem";
import { startFuse } from "../src/fuse/server";

const MIB = 1024 * 1024;
const size = Number(process.argv[2] ?? 100) * MIB;

/** One file, read from a local copy through a FileHandle (as a cache would), or handed over for passthrough. */
class OneFileFs implements ReadOnlyFilesystem {
  private handle?: FileHandle;
  private fd?: number;
  constructor(private readonly path: string, private readonly size: number, private readonly o: { passthrough: boolean; directIo: boolean; syncRead: boolean }) {}
  private attr(ino: number): Attr {
    return ino === 1
      ? { ino: 1, mode: 0o040755, nlink: 2, uid: 0, gid: 0, size: 4096, mtime: 0 }
      : { ino: 2, mode: 0o100644, nlink: 1, uid: 0, gid: 0, size: this.size, mtime: 0 };
  }
  async lookup(parent: number, name: string) {
    if (parent !== 1 || name !== "data.bin") throw new FuseError(2);
    return { attr: this.attr(2), entryTtlMs: 60_000, attrTtlMs: 60_000 };
  }
  async getattr(ino: number) { return { attr: this.attr(ino), attrTtlMs: 60_000 }; }
  async readlink(): Promise<string> { throw new FuseError(22); }
  async open() {
    this.handle ??= await openAsync(this.path, "r");
    return { fh: 1, keepCache: false, directIo: this.o.directIo, passthroughFd: this.o.passthrough ? openSync(this.path, "r") : undefined };
  }
  async read(_ino: number, _fh: number, offset: number, length: number) {
    const buf = new Uint8Array(Math.max(0, Math.min(length, this.size - offset)));
    if (this.o.syncRead) return buf.subarray(0, readSync(this.fd ??= openSync(this.path, "r"), buf, 0, buf.length, offset));
    const { bytesRead } = await this.handle!.read(buf, 0, buf.length, offset);
    return buf.subarray(0, bytesRead);
  }
  async release() {}
  async opendir() { return {}; }
  async readdir() { return [{ name: "data.bin", attr: this.attr(2), entryTtlMs: 60_000, attrTtlMs: 60_000 }]; }
  async releasedir() {}
  async statfs() { return { blocks: 0, bfree: 0, bavail: 0, files: 2, ffree: 0, bsize: 4096, namelen: 255, frsize: 4096 }; }
  async getxattr(): Promise<Uint8Array> { throw new FuseError(61); }
  async listxattr() { return []; }
}

async function ddRate(path: string): Promise<number> {
  const t0 = performance.now();
  const p = Bun.spawn(["dd", `if=${path}`, "of=/dev/null", "bs=4k", "status=none"], { stderr: "pipe" });
  const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  if (code !== 0) throw new Error(`dd ${path}: ${err.trim()}`);
  return size / MIB / ((performance.now() - t0) / 1000);
}

const rssMiB = () => Math.round(process.memoryUsage().rss / MIB);
const peakMiB = async () => Math.round(Number(/VmHWM:\s+(\d+)/.exec(await Bun.file("/proc/self/status").text())?.[1] ?? 0) / 1024);

if (process.getuid?.() !== 0) {
  console.error("bench/fuse-read.ts: run as root (mount(2) and passthrough need it)");
  process.exit(1);
}
const base = mkdtempSync(join(tmpdir(), "cvm-fuse-bench-"));
const local = join(base, "data.bin");
try {
  const block = new Uint8Array(MIB);
  crypto.getRandomValues(block.subarray(0, 65536));
  for (let i = 65536; i < MIB; i *= 2) block.copyWithin(i, 0, i);
  const fd = openSync(local, "w");
  for (let off = 0; off < size; off += MIB) writeFileSync(fd, block.subarray(0, Math.min(MIB, size - off)));
  closeSync(fd);
  await ddRate(local);   // warm the local file's page cache
  const rows: [string, number, string][] = [["local file", await ddRate(local), ""]];
  for (const [name, o] of [
    ["passthrough", { passthrough: true, directIo: false, syncRead: true }],
    ["READ (page cache), pread", { passthrough: false, directIo: false, syncRead: true }],
    ["READ (direct_io), pread", { passthrough: false, directIo: true, syncRead: true }],
    ["READ (page cache), FileHandle", { passthrough: false, directIo: false, syncRead: false }],
    ["READ (direct_io), FileHandle", { passthrough: false, directIo: true, syncRead: false }],
  ] as const) {
    const mp = join(base, name.replace(/\W+/g, "-"));
    mkdirSync(mp);
    const h = await startFuse(mp, new OneFileFs(local, size, o), { fsname: "cvmfs2", passthrough: o.passthrough });
    try {
      const rate = await ddRate(join(mp, "data.bin"));
      rows.push([name, rate, `${h.requests.READ ?? 0} READ requests, passthrough ${h.passthrough ? "on" : `off (${h.passthroughOff})`}`]);
    } finally {
      await h.stop();
    }
  }
  console.log(`4 KiB sequential reads of ${size / MIB} MiB (dd bs=4k), fresh mount each:`);
  for (const [name, rate, note] of rows) console.log(`  ${name.padEnd(30)} ${rate.toFixed(0).padStart(6)} MB/s  ${note}`);
  console.log(`daemon RSS now ${rssMiB()} MiB, peak ${await peakMiB()} MiB`);
} finally {
  rmSync(base, { recursive: true, force: true });
}
