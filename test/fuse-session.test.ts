// The session driven with synthetic kernel requests and a recording device:
// the protocol details no shell command can reach (INIT flags, unknown
// opcodes, interrupts, paging, passthrough bookkeeping, error mapping).
import { describe, expect, test } from "bun:test";
import * as abi from "../src/fuse/abi";
import { Errno, Fopen, Init, Op } from "../src/fuse/abi";
import { FuseError } from "../src/fuse/filesystem";
import { Session, type Device, type SessionOptions } from "../src/fuse/session";
import { MemoryFs } from "./helpers/memory-fs";

interface Reply { unique: bigint; error: number; body: Uint8Array; }

class RecordingDevice implements Device {
  replies: Reply[] = [];
  opened: number[] = [];
  closedIds: number[] = [];
  closedFds: number[] = [];
  refuse: string | null = null;
  /** Replies fail with this code (as when the kernel dropped an interrupted request). */
  refuseReplies: string | null = null;
  private nextId = 1;
  send(header: Uint8Array, body?: Uint8Array) {
    if (this.refuseReplies) throw Object.assign(new Error(`reply refused (${this.refuseReplies})`), { code: this.refuseReplies });
    const b = new Uint8Array(header.length + (body?.length ?? 0));
    b.set(header);
    if (body) b.set(body, header.length);
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    expect(v.getUint32(0, true)).toBe(b.length);
    this.replies.push({ unique: v.getBigUint64(8, true), error: -v.getInt32(4, true) || 0, body: b.slice(16) });
  }
  backingOpen(fd: number) {
    if (this.refuse) throw Object.assign(new Error(`refused (${this.refuse})`), { code: this.refuse });
    this.opened.push(fd);
    return this.nextId++;
  }
  backingClose(id: number) { this.closedIds.push(id); }
  closeFd(fd: number) { this.closedFds.push(fd); }
}

let unique = 100n;
function request(opcode: number, nodeid: number, body: Uint8Array = new Uint8Array(0), id = ++unique): Uint8Array {
  const b = new Uint8Array(abi.IN_HEADER_SIZE + body.length);
  const v = new DataView(b.buffer);
  v.setUint32(0, b.length, true);
  v.setUint32(4, opcode, true);
  v.setBigUint64(8, id, true);
  v.setBigUint64(16, BigInt(nodeid), true);
  b.set(body, abi.IN_HEADER_SIZE);
  return b;
}
const u32s = (...n: number[]) => new Uint8Array(new Uint32Array(n).buffer);
const u64s = (...n: number[]) => new Uint8Array(new BigUint64Array(n.map(BigInt)).buffer);
const cat = (...parts: Uint8Array[]) => { const o = new Uint8Array(parts.reduce((s, p) => s + p.length, 0)); let i = 0; for (const p of parts) { o.set(p, i); i += p.length; } return o; };
const name = (s: string) => new TextEncoder().encode(`${s}\0`);
const readIn = (fh: number, offset: number, size: number) => cat(u64s(fh, offset), u32s(size, 0), u64s(0), u32s(0, 0));
const tick = () => new Promise((r) => setTimeout(r, 0));
async function waitUntil(check: () => boolean) {
  for (let i = 0; i < 100 && !check(); i++) await tick();
}

const ALL_OFFERED = Init.ASYNC_READ | Init.PARALLEL_DIROPS | Init.DO_READDIRPLUS | Init.READDIRPLUS_AUTO | Init.CACHE_SYMLINKS |
  Init.MAX_PAGES | Init.INIT_EXT | Init.PASSTHROUGH | Init.WRITEBACK_CACHE | Init.POSIX_LOCKS | Init.EXPORT_SUPPORT;

function initBody(minor: number, flags: bigint, maxReadahead = 131072): Uint8Array {
  return cat(u32s(7, minor, maxReadahead, Number(flags & 0xffffffffn), Number(flags >> 32n)), new Uint8Array(44));
}

async function started(fs = new MemoryFs(), opts: SessionOptions = {}, flags = ALL_OFFERED) {
  const dev = new RecordingDevice();
  const s = new Session(fs, dev, opts);
  s.handle(request(Op.INIT, 0, initBody(45, flags)));
  await s.initialized;
  dev.replies.length = 0;
  return { s, dev, fs };
}

/** Sends one request and waits for its reply. */
async function ask(s: Session, dev: RecordingDevice, opcode: number, nodeid: number, body?: Uint8Array): Promise<Reply> {
  const id = ++unique;
  s.handle(request(opcode, nodeid, body, id));
  for (let i = 0; i < 100; i++) {
    const r = dev.replies.find((x) => x.unique === id);
    if (r) return r;
    await tick();
  }
  throw new Error(`no reply to ${abi.opName(opcode)}`);
}

describe("INIT", () => {
  test("asks for what a read-only filesystem uses, of what the kernel offers, and never writeback cache or locks", async () => {
    const dev = new RecordingDevice();
    const s = new Session(new MemoryFs(), dev, { maxReadahead: 65536 });
    s.handle(request(Op.INIT, 0, initBody(45, ALL_OFFERED)));
    await s.initialized;
    const v = new DataView(dev.replies[0].body.buffer);
    expect(dev.replies[0].body.length).toBe(abi.INIT_OUT_SIZE);
    expect([v.getUint32(0, true), v.getUint32(4, true)]).toEqual([7, 45]);
    expect(v.getUint32(8, true)).toBe(65536);
    const flags = BigInt(v.getUint32(12, true)) | (BigInt(v.getUint32(32, true)) << 32n);
    for (const f of [Init.ASYNC_READ, Init.PARALLEL_DIROPS, Init.DO_READDIRPLUS, Init.READDIRPLUS_AUTO, Init.CACHE_SYMLINKS, Init.MAX_PAGES]) expect(flags & f).toBe(f);
    expect(flags & (Init.WRITEBACK_CACHE | Init.POSIX_LOCKS | Init.EXPORT_SUPPORT)).toBe(0n);
    expect(v.getUint16(28, true)).toBe(256);   // max_pages
    // Passthrough is only asked for with CAP_SYS_ADMIN, and then max_stack_depth must be at least 1.
    expect(s.passthrough).toBe((flags & Init.PASSTHROUGH) !== 0n);
    expect(v.getUint32(36, true)).toBe(s.passthrough ? 1 : 0);
  });

  test("an older kernel minor is spoken; flags it did not offer are never set", async () => {
    const dev = new RecordingDevice();
    const s = new Session(new MemoryFs(), dev);
    s.handle(request(Op.INIT, 0, initBody(38, Init.ASYNC_READ | Init.INIT_EXT)));
    await s.initialized;
    const v = new DataView(dev.replies[0].body.buffer);
    expect(v.getUint32(4, true)).toBe(38);
    expect(v.getUint32(12, true)).toBe(Number(Init.ASYNC_READ | Init.INIT_EXT));
    expect(v.getUint32(32, true)).toBe(0);
    expect(s.passthrough).toBe(false);
    expect(s.passthroughOff).toContain("does not offer");
  });

  test("a kernel older than 7.31 is refused with EPROTO and start fails with the reason", async () => {
    const dev = new RecordingDevice();
    const s = new Session(new MemoryFs(), dev);
    s.handle(request(Op.INIT, 0, initBody(19, Init.ASYNC_READ)));
    expect(dev.replies[0].error).toBe(Errno.EPROTO);
    await expect(s.initialized).rejects.toThrow("7.19 is older than the 7.31");
  });

  test("passthrough: false keeps it off even when offered", async () => {
    const { s } = await started(new MemoryFs(), { passthrough: false });
    expect(s.passthrough).toBe(false);
    expect(s.passthroughOff).toBe("disabled");
  });

  test("requests before INIT are answered EIO", async () => {
    const dev = new RecordingDevice();
    const s = new Session(new MemoryFs(), dev);
    s.handle(request(Op.GETATTR, 1, new Uint8Array(16), 7n));
    expect(dev.replies).toEqual([{ unique: 7n, error: Errno.EIO, body: new Uint8Array(0) }]);
  });
});

describe("requests", () => {
  test("unknown opcodes are answered ENOSYS, writes EROFS, flush ENOSYS (the kernel stops sending it), fsync 0, and FORGET gets no answer", async () => {
    const { s, dev, fs } = await started();
    expect((await ask(s, dev, 4242, 1)).error).toBe(Errno.ENOSYS);
    expect((await ask(s, dev, Op.STATX, 1)).error).toBe(Errno.ENOSYS);
    expect((await ask(s, dev, Op.IOCTL, 1)).error).toBe(Errno.ENOSYS);
    for (const op of [Op.SETATTR, Op.WRITE, Op.CREATE, Op.MKDIR, Op.UNLINK, Op.RMDIR, Op.RENAME, Op.RENAME2, Op.SYMLINK, Op.LINK,
      Op.SETXATTR, Op.REMOVEXATTR, Op.MKNOD, Op.FALLOCATE, Op.COPY_FILE_RANGE, Op.COPY_FILE_RANGE_64, Op.TMPFILE]) {
      expect({ op: abi.opName(op), error: (await ask(s, dev, op, 1)).error }).toEqual({ op: abi.opName(op), error: Errno.EROFS });
    }
    expect((await ask(s, dev, Op.FLUSH, 1, new Uint8Array(24))).error).toBe(Errno.ENOSYS);
    expect((await ask(s, dev, Op.FSYNC, 1, new Uint8Array(16))).error).toBe(0);
    const before = dev.replies.length;
    s.handle(request(Op.FORGET, 5, u64s(3)));
    s.handle(request(Op.BATCH_FORGET, 0, cat(u32s(2, 0), u64s(6, 1, 7, 2))));
    await tick();
    expect(dev.replies.length).toBe(before);
    expect([...fs.forgotten]).toEqual([[5, 3], [6, 1], [7, 2]]);
  });

  test("a request shorter than its structure is answered EIO with a log line, and the session goes on", async () => {
    const lines: string[] = [];
    const { s, dev } = await started(new MemoryFs(), { log: (l) => lines.push(l) });
    expect((await ask(s, dev, Op.READ, 1, new Uint8Array(4))).error).toBe(Errno.EIO);
    expect((await ask(s, dev, Op.GETXATTR, 1, new Uint8Array(2))).error).toBe(Errno.EIO);
    s.handle(request(Op.FORGET, 1, new Uint8Array(3)));
    expect(lines.length).toBe(3);
    expect(lines[2]).toStartWith("fuse: malformed FORGET request");
    expect((await ask(s, dev, Op.GETATTR, 1, new Uint8Array(16))).error).toBe(0);
  });

  test("ACCESS: asking to write is EROFS, anything else is allowed", async () => {
    const { s, dev } = await started();
    expect((await ask(s, dev, Op.ACCESS, 1, u32s(2, 0))).error).toBe(Errno.EROFS);
    expect((await ask(s, dev, Op.ACCESS, 1, u32s(4 | 1, 0))).error).toBe(0);
    expect((await ask(s, dev, Op.ACCESS, 1, u32s(0, 0))).error).toBe(0);
  });

  test("LOOKUP encodes fuse_entry_out; a FuseError's errno is the answer; another error is EIO and one log line", async () => {
    const fs = new MemoryFs();
    const ino = fs.file("a.txt", "abc");
    const lines: string[] = [];
    const { s, dev } = await started(fs, { log: (l) => lines.push(l) });
    const r = await ask(s, dev, Op.LOOKUP, 1, name("a.txt"));
    const v = new DataView(r.body.buffer);
    expect(r.body.length).toBe(128);
    expect(Number(v.getBigUint64(0, true))).toBe(ino);          // nodeid
    expect(Number(v.getBigUint64(16, true))).toBe(1);           // entry_valid: 1000 ms
    expect(Number(v.getBigUint64(40, true))).toBe(ino);         // attr.ino
    expect(Number(v.getBigUint64(48, true))).toBe(3);           // attr.size
    expect(v.getUint32(40 + 60, true)).toBe(0o100644);          // attr.mode
    expect((await ask(s, dev, Op.LOOKUP, 1, name("missing"))).error).toBe(Errno.ENOENT);
    fs.getattr = async () => { throw new TypeError("boom"); };
    expect((await ask(s, dev, Op.GETATTR, ino, new Uint8Array(16))).error).toBe(Errno.EIO);
    expect(lines).toEqual([`fuse: GETATTR of inode ${ino}: boom`]);
  });

  test("a negative TTL turns ENOENT into a cached negative entry", async () => {
    const { s, dev } = await started(new MemoryFs(), { negativeTtlMs: 2500 });
    const r = await ask(s, dev, Op.LOOKUP, 1, name("missing"));
    const v = new DataView(r.body.buffer);
    expect(r.error).toBe(0);
    expect([Number(v.getBigUint64(0, true)), Number(v.getBigUint64(16, true)), v.getUint32(32, true)]).toEqual([0, 2, 500_000_000]);
  });

  test("GETXATTR and LISTXATTR: size 0 asks the size, a short buffer is ERANGE, a missing name ENODATA", async () => {
    const fs = new MemoryFs();
    fs.file("f", "x");
    fs.setXattr("f", "user.revision", "1234");
    fs.setXattr("f", "user.fqrn", "a.example.org");
    const { s, dev } = await started(fs);
    const ino = 2;
    const get = (size: number, n: string) => ask(s, dev, Op.GETXATTR, ino, cat(u32s(size, 0), name(n)));
    expect(new DataView((await get(0, "user.revision")).body.buffer).getUint32(0, true)).toBe(4);
    expect((await get(3, "user.revision")).error).toBe(Errno.ERANGE);
    expect(new TextDecoder().decode((await get(4, "user.revision")).body)).toBe("1234");
    expect((await get(100, "user.nope")).error).toBe(Errno.ENODATA);
    const list = (size: number) => ask(s, dev, Op.LISTXATTR, ino, u32s(size, 0));
    expect(new DataView((await list(0)).body.buffer).getUint32(0, true)).toBe(24);
    expect((await list(23)).error).toBe(Errno.ERANGE);
    expect(new TextDecoder().decode((await list(24)).body)).toBe("user.revision\0user.fqrn\0");
  });

  test("READDIR pages one listing by offset, 8-byte aligned, with . and ..; readdir is called once per open", async () => {
    const fs = new MemoryFs();
    const names = Array.from({ length: 300 }, (_, i) => `entry-${"x".repeat(i % 13)}${i}`);
    for (const n of names) fs.file(n, "");
    const { s, dev } = await started(fs);
    const open = await ask(s, dev, Op.OPENDIR, 1, u32s(0, 0));
    const ov = new DataView(open.body.buffer);
    const fh = Number(ov.getBigUint64(0, true));
    expect(ov.getUint32(8, true)).toBe(Fopen.CACHE_DIR | Fopen.KEEP_CACHE);
    const seen: string[] = [];
    let offset = 0;
    for (let pages = 0; pages < 100; pages++) {
      const r = await ask(s, dev, Op.READDIR, 1, readIn(fh, offset, 1024));
      expect(r.body.length).toBeLessThanOrEqual(1024);
      if (r.body.length === 0) break;
      const v = new DataView(r.body.buffer);
      for (let pos = 0; pos < r.body.length;) {
        expect(pos % 8).toBe(0);
        const len = v.getUint32(pos + 16, true);
        seen.push(new TextDecoder().decode(r.body.subarray(pos + 24, pos + 24 + len)));
        offset = Number(v.getBigUint64(pos + 8, true));
        pos += (24 + len + 7) & ~7;
      }
    }
    expect(seen).toEqual([".", "..", ...names]);
    expect(fs.calls.readdir).toBe(1);
    expect((await ask(s, dev, Op.RELEASEDIR, 1, cat(u64s(fh), u32s(0, 0), u64s(0)))).error).toBe(0);
    expect((await ask(s, dev, Op.READDIR, 1, readIn(fh, 0, 1024))).error).toBe(Errno.EBADF);
  });

  test("READDIRPLUS carries each entry's attributes; . and .. carry nodeid 0 (not lookups)", async () => {
    const fs = new MemoryFs();
    const ino = fs.file("big", new Uint8Array(5000));
    const { s, dev } = await started(fs);
    const fh = Number(new DataView((await ask(s, dev, Op.OPENDIR, 1, u32s(0, 0))).body.buffer).getBigUint64(0, true));
    const r = await ask(s, dev, Op.READDIRPLUS, 1, readIn(fh, 0, 4096));
    const v = new DataView(r.body.buffer);
    const rec = (pos: number) => ({ nodeid: Number(v.getBigUint64(pos, true)), size: Number(v.getBigUint64(pos + 48, true)), ino: Number(v.getBigUint64(pos + 128, true)), namelen: v.getUint32(pos + 144, true), type: v.getUint32(pos + 148, true) });
    // Each record: fuse_entry_out (128) + fuse_dirent (24) + name, padded to 8: 160 bytes for these names.
    const first = rec(0), second = rec(160), third = rec(320);
    expect(first).toEqual({ nodeid: 0, size: 0, ino: 1, namelen: 1, type: 4 });
    expect(second).toMatchObject({ nodeid: 0, namelen: 2, type: 4 });
    expect(third).toEqual({ nodeid: ino, size: 5000, ino, namelen: 3, type: 8 });
    expect(r.body.length).toBe(480);
  });

  test("lookup counting: a LOOKUP answer the kernel never got is forgotten; READDIRPLUS entries count once delivered, . and .. never", async () => {
    const fs = new MemoryFs();
    const a = fs.file("a", "1"), b = fs.file("b", "2"), c = fs.file("c", "3");
    const { s, dev } = await started(fs);
    expect((await ask(s, dev, Op.LOOKUP, 1, name("a"))).error).toBe(0);
    expect(fs.forgotten.size).toBe(0);
    dev.refuseReplies = "ENOENT";
    s.handle(request(Op.LOOKUP, 1, name("b")));
    await waitUntil(() => fs.forgotten.size > 0);
    expect([...fs.forgotten]).toEqual([[b, 1]]);
    dev.refuseReplies = null;
    fs.forgotten.clear();
    const fh = Number(new DataView((await ask(s, dev, Op.OPENDIR, 1, u32s(0, 0))).body.buffer).getBigUint64(0, true));
    // 160 bytes a record here: the first page holds ".", ".." and "a"; the second "b" and "c".
    expect((await ask(s, dev, Op.READDIRPLUS, 1, readIn(fh, 0, 480))).body.length).toBe(480);
    expect([...fs.remembered]).toEqual([[a, 1]]);
    // A page the kernel never got counts nothing.
    dev.refuseReplies = "ENOENT";
    s.handle(request(Op.READDIRPLUS, 1, readIn(fh, 3, 4096)));
    await tick(); await tick();
    expect([...fs.remembered]).toEqual([[a, 1]]);
    dev.refuseReplies = null;
    expect((await ask(s, dev, Op.READDIRPLUS, 1, readIn(fh, 3, 4096))).body.length).toBe(320);
    expect([...fs.remembered]).toEqual([[a, 1], [b, 1], [c, 1]]);
    // Plain READDIR carries no entries the kernel counts.
    await ask(s, dev, Op.READDIR, 1, readIn(fh, 0, 4096));
    expect(fs.calls.remember).toBe(3);
    expect(fs.forgotten.size).toBe(0);
  });

  test("INTERRUPT answers a running request EINTR at once and drops its late answer", async () => {
    let release!: () => void;
    const fs = new MemoryFs();
    const ino = fs.file("slow", "data", { gate: new Promise<void>((r) => { release = r; }) });
    const { s, dev } = await started(fs);
    const fh = Number(new DataView((await ask(s, dev, Op.OPEN, ino, u32s(0, 0))).body.buffer).getBigUint64(0, true));
    s.handle(request(Op.READ, ino, readIn(fh, 0, 4096), 555n));
    await fs.gatedReadStarted;
    s.handle(request(Op.INTERRUPT, 0, u64s(555), 556n));
    expect(dev.replies.filter((r) => r.unique === 555n)).toEqual([{ unique: 555n, error: Errno.EINTR, body: new Uint8Array(0) }]);
    release();
    await tick(); await tick();
    expect(dev.replies.filter((r) => r.unique === 555n).length).toBe(1);
    expect(dev.replies.some((r) => r.unique === 556n)).toBe(false);   // INTERRUPT itself gets no answer
  });

  test("OPEN for writing is EROFS; READ goes to the filesystem with its own handle", async () => {
    const fs = new MemoryFs();
    const ino = fs.file("f", "0123456789");
    const { s, dev } = await started(fs);
    expect((await ask(s, dev, Op.OPEN, ino, u32s(1, 0))).error).toBe(Errno.EROFS);
    expect((await ask(s, dev, Op.OPEN, ino, u32s(2, 0))).error).toBe(Errno.EROFS);
    const open = await ask(s, dev, Op.OPEN, ino, u32s(0, 0));
    const ov = new DataView(open.body.buffer);
    expect(ov.getUint32(8, true)).toBe(Fopen.KEEP_CACHE);
    const r = await ask(s, dev, Op.READ, ino, readIn(Number(ov.getBigUint64(0, true)), 3, 4));
    expect(new TextDecoder().decode(r.body)).toBe("3456");
  });
});

describe("passthrough bookkeeping", () => {
  async function passSession(refuse: string | null = null) {
    const fs = new MemoryFs();
    const ino = fs.file("f", "content");
    const other = fs.file("g", "other");
    const fds: number[] = [];
    fs.open = async (i) => { const fd = 1000 + fds.length; fds.push(fd); return { fh: i, passthroughFd: fd, keepCache: true }; };
    const dev = new RecordingDevice();
    dev.refuse = refuse;
    const s = new Session(fs, dev, {});
    // Passthrough needs CAP_SYS_ADMIN: force the negotiated state so the bookkeeping is tested anywhere.
    s.handle(request(Op.INIT, 0, initBody(45, ALL_OFFERED)));
    await s.initialized;
    s.passthrough = true;
    const open = async (i: number) => {
      const r = await ask(s, dev, Op.OPEN, i, u32s(0, 0));
      const v = new DataView(r.body.buffer);
      return { fh: Number(v.getBigUint64(0, true)), flags: v.getUint32(8, true), backing: v.getInt32(12, true) };
    };
    const release = (fh: number, i: number) => ask(s, dev, Op.RELEASE, i, cat(u64s(fh), u32s(0, 0), u64s(0)));
    return { s, dev, fs, ino, other, fds, open, release };
  }

  test("opens of one inode share one backing file, closed with the last release; every passed descriptor is closed", async () => {
    const { dev, ino, other, fds, open, release } = await passSession();
    const a = await open(ino), b = await open(ino), c = await open(other);
    expect(a).toMatchObject({ flags: Fopen.PASSTHROUGH, backing: 1 });   // no KEEP_CACHE: the kernel refuses it with passthrough
    expect(b).toMatchObject({ flags: Fopen.PASSTHROUGH, backing: 1 });
    expect(c).toMatchObject({ flags: Fopen.PASSTHROUGH, backing: 2 });
    expect(dev.opened).toEqual([fds[0], fds[2]]);
    expect(dev.closedFds).toEqual(fds);
    await release(a.fh, ino);
    expect(dev.closedIds).toEqual([]);
    await release(b.fh, ino);
    await release(c.fh, other);
    expect(dev.closedIds).toEqual([1, 2]);
  });

  test("refused for lack of privilege: the READ path from then on, said once", async () => {
    const lines: string[] = [];
    const { s, dev, ino, other, fds, open } = await passSession("EPERM");
    (s as unknown as { opts: SessionOptions }).opts.verbose = (l) => lines.push(l);
    expect(await open(ino)).toMatchObject({ flags: Fopen.KEEP_CACHE, backing: 0 });
    expect(await open(other)).toMatchObject({ flags: Fopen.KEEP_CACHE, backing: 0 });
    expect(s.passthrough).toBe(false);
    expect(s.passthroughOff).toContain("CAP_SYS_ADMIN");
    expect(lines.length).toBe(1);
    expect(dev.closedFds).toEqual(fds);
  });

  test("a file on a stacked filesystem (ELOOP) falls back for that open only", async () => {
    const { s, open, ino } = await passSession("ELOOP");
    expect(await open(ino)).toMatchObject({ backing: 0 });
    expect(s.passthrough).toBe(true);
  });

  test("an inode with a cached open stays cached (the kernel cannot mix the two)", async () => {
    const { s, dev, fs, ino, open } = await passSession();
    const plainOpen = fs.open;
    fs.open = async (i) => ({ fh: i, keepCache: true });
    const cached = await open(ino);
    expect(cached.backing).toBe(0);
    fs.open = plainOpen;
    expect(await open(ino)).toMatchObject({ backing: 0 });
    expect(dev.opened).toEqual([]);
    expect(s.passthrough).toBe(true);
  });
});

describe("ABI", () => {
  test("device ioctl numbers match linux/fuse.h", () => {
    expect(abi.FUSE_DEV_IOC_CLONE).toBe(0x8004e500);
    expect(abi.FUSE_DEV_IOC_BACKING_OPEN).toBe(0x4010e501);
    expect(abi.FUSE_DEV_IOC_BACKING_CLOSE).toBe(0x4004e502);
  });

  test("a FuseError keeps its errno", () => {
    expect(new FuseError(Errno.ENOENT).errno).toBe(2);
  });
});
