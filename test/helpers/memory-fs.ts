/**
 * A ReadOnlyFilesystem held in memory, for the FUSE session tests: files,
 * directories, symlinks, hardlinks, xattrs, files served through passthrough
 * from a local copy, and a "slow" file whose reads wait on a gate the test
 * opens. It counts the calls it receives.
 */
import { openSync } from "node:fs";
import { FuseError, type Attr, type DirEntry, type Entry, type OpenResult, type ReadOnlyFilesystem, type Statfs } from "../../src/fuse/filesystem";

const ENOENT = 2, ENOTDIR = 20, EINVAL = 22, ENODATA = 61;

interface Node {
  attr: Attr;
  children?: Map<string, number>;
  data?: Uint8Array;
  target?: string;
  xattrs: Map<string, Uint8Array>;
  /** A local file with the same content: opened and handed to the session as passthroughFd. */
  backingPath?: string;
  /** Reads wait for this before answering. */
  gate?: Promise<void>;
}

export class MemoryFs implements ReadOnlyFilesystem {
  readonly nodes = new Map<number, Node>();
  readonly calls: Record<string, number> = {};
  /** fs.read calls per inode. */
  readonly reads = new Map<number, number>();
  readonly forgotten = new Map<number, number>();
  /** Resolved the first time a gated read starts waiting. */
  gatedReadStarted: Promise<void>;
  private markGatedRead!: () => void;
  private nextIno = 2;
  ttlMs = 1000;

  constructor(readonly uid = 0, readonly gid = 0) {
    this.gatedReadStarted = new Promise((r) => { this.markGatedRead = r; });
    this.nodes.set(1, { attr: this.attr(1, 0o040755, 0), children: new Map(), xattrs: new Map() });
  }

  private attr(ino: number, mode: number, size: number): Attr {
    return { ino, mode, nlink: mode & 0o040000 ? 2 : 1, uid: this.uid, gid: this.gid, size, mtime: 1_700_000_000, mtimeNs: 123 };
  }

  private count(op: string) {
    this.calls[op] = (this.calls[op] ?? 0) + 1;
  }

  private parentOf(path: string): { dir: Node; name: string } {
    const parts = path.split("/").filter(Boolean);
    const name = parts.pop()!;
    let dir = this.nodes.get(1)!;
    for (const p of parts) {
      const ino = dir.children?.get(p);
      if (ino === undefined) throw new Error(`no directory ${p} in ${path}`);
      dir = this.nodes.get(ino)!;
    }
    return { dir, name };
  }

  private add(path: string, mode: number, size: number, extra: Partial<Node> = {}): number {
    const { dir, name } = this.parentOf(path);
    const ino = this.nextIno++;
    this.nodes.set(ino, { attr: this.attr(ino, mode, size), xattrs: new Map(), ...extra });
    dir.children!.set(name, ino);
    if (mode & 0o040000) dir.attr.nlink++;
    return ino;
  }

  mkdir(path: string): number {
    return this.add(path, 0o040755, 4096, { children: new Map() });
  }

  file(path: string, content: string | Uint8Array, o: { mode?: number; backingPath?: string; gate?: Promise<void> } = {}): number {
    const data = typeof content === "string" ? new TextEncoder().encode(content) : content;
    return this.add(path, 0o100000 | (o.mode ?? 0o644), data.length, { data, backingPath: o.backingPath, gate: o.gate });
  }

  symlink(path: string, target: string): number {
    return this.add(path, 0o120777, new TextEncoder().encode(target).length, { target });
  }

  /** Another name for an existing inode (nlink grows). */
  hardlink(path: string, existing: string): number {
    const { dir: srcDir, name: srcName } = this.parentOf(existing);
    const ino = srcDir.children!.get(srcName)!;
    const { dir, name } = this.parentOf(path);
    dir.children!.set(name, ino);
    this.nodes.get(ino)!.attr.nlink++;
    return ino;
  }

  setXattr(path: string, name: string, value: string): void {
    const { dir, name: base } = this.parentOf(path);
    this.nodes.get(dir.children!.get(base)!)!.xattrs.set(name, new TextEncoder().encode(value));
  }

  private node(ino: number): Node {
    const n = this.nodes.get(ino);
    if (!n) throw new FuseError(ENOENT);
    return n;
  }

  async lookup(parent: number, name: string): Promise<Entry> {
    this.count("lookup");
    const dir = this.node(parent);
    if (!dir.children) throw new FuseError(ENOTDIR);
    const ino = dir.children.get(name);
    if (ino === undefined) throw new FuseError(ENOENT);
    return { attr: { ...this.node(ino).attr }, entryTtlMs: this.ttlMs, attrTtlMs: this.ttlMs };
  }

  /** READDIRPLUS entries the session said the kernel received, per inode. */
  readonly remembered = new Map<number, number>();

  remember(_dirFh: number, ino: number): void {
    this.count("remember");
    this.remembered.set(ino, (this.remembered.get(ino) ?? 0) + 1);
  }

  forget(ino: number, nlookup: number): void {
    this.count("forget");
    this.forgotten.set(ino, (this.forgotten.get(ino) ?? 0) + nlookup);
  }

  async getattr(ino: number) {
    this.count("getattr");
    return { attr: { ...this.node(ino).attr }, attrTtlMs: this.ttlMs };
  }

  async readlink(ino: number): Promise<string> {
    this.count("readlink");
    const n = this.node(ino);
    if (n.target === undefined) throw new FuseError(EINVAL);
    return n.target;
  }

  async open(ino: number, _flags: number): Promise<OpenResult> {
    this.count("open");
    const n = this.node(ino);
    return { fh: ino * 10, keepCache: true, passthroughFd: n.backingPath ? openSync(n.backingPath, "r") : undefined };
  }

  async read(ino: number, fh: number, offset: number, size: number): Promise<Uint8Array> {
    this.count("read");
    this.reads.set(ino, (this.reads.get(ino) ?? 0) + 1);
    if (fh !== ino * 10) throw new Error(`read of inode ${ino} with the handle ${fh} of another open`);
    const n = this.node(ino);
    if (n.gate) {
      this.markGatedRead();
      await n.gate;
    }
    return (n.data ?? new Uint8Array(0)).subarray(offset, offset + size);
  }

  async release(_ino: number, _fh: number): Promise<void> {
    this.count("release");
  }

  async opendir(ino: number) {
    this.count("opendir");
    if (!this.node(ino).children) throw new FuseError(ENOTDIR);
    return { fh: ino };
  }

  async readdir(ino: number, _fh: number): Promise<DirEntry[]> {
    this.count("readdir");
    const dir = this.node(ino);
    return [...dir.children!].map(([name, child]) => ({ name, attr: { ...this.node(child).attr }, entryTtlMs: this.ttlMs, attrTtlMs: this.ttlMs }));
  }

  async releasedir(_ino: number, _fh: number): Promise<void> {
    this.count("releasedir");
  }

  async statfs(): Promise<Statfs> {
    this.count("statfs");
    return { blocks: 1000, bfree: 0, bavail: 0, files: this.nodes.size, ffree: 0, bsize: 4096, namelen: 255, frsize: 4096 };
  }

  async getxattr(ino: number, name: string): Promise<Uint8Array> {
    this.count("getxattr");
    const v = this.node(ino).xattrs.get(name);
    if (!v) throw new FuseError(ENODATA);
    return v;
  }

  async listxattr(ino: number): Promise<string[]> {
    this.count("listxattr");
    return [...this.node(ino).xattrs.keys()];
  }
}

/** Deterministic bytes (xorshift32), different for every seed. */
export function pattern(size: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    words[i] = x;
  }
  return new Uint8Array(words.buffer, 0, size);
}
