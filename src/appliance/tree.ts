import { chmodSync, closeSync, copyFileSync, constants, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { CvmError } from "../cli/errors";
import type { CpioEntry } from "./cpio";

type Entry =
  | { kind: "dir"; mode: number }
  | { kind: "file"; mode: number; bytes?: Uint8Array; host?: string }
  | { kind: "link"; target: string };

/**
 * The files of an image, described before any is written: the same tree
 * becomes a cpio archive (initramfs) or a staging directory (mke2fs -d).
 * Every entry is owned by root; paths are absolute in the guest.
 */
export class ImageTree {
  private entries = new Map<string, Entry>();

  dir(path: string, mode = 0o755): void {
    if (path === "/" || this.entries.get(path)?.kind === "dir") return;
    this.dir(dirname(path));
    this.entries.set(path, { kind: "dir", mode });
  }

  file(path: string, content: Uint8Array | string, mode = 0o644): void {
    this.dir(dirname(path));
    this.entries.set(path, { kind: "file", mode, bytes: typeof content === "string" ? new TextEncoder().encode(content) : content });
  }

  /** A host file, read only when the image is written (the cvm binary is 100+ MB); a directory with all it holds. */
  copy(path: string, host: string, mode?: number): void {
    let st;
    try { st = lstatSync(host); } catch { throw new CvmError(`${host}: no such file`); }
    if (st.isSymbolicLink()) return this.link(path, readlinkSync(host));
    if (st.isDirectory()) return this.copyTree(path, host);
    if (!st.isFile()) throw new CvmError(`${host}: not a regular file, directory or link`);
    this.dir(dirname(path));
    this.entries.set(path, { kind: "file", mode: mode ?? st.mode & 0o7777, host });
  }

  /** A host entry alone: a directory without what it holds (a package's file list names each file). */
  copyEntry(path: string, host: string): void {
    if (lstatSync(host).isDirectory()) this.dir(path, lstatSync(host).mode & 0o7777);
    else this.copy(path, host);
  }

  private copyTree(path: string, host: string): void {
    this.dir(path, lstatSync(host).mode & 0o7777);
    for (const name of readdirSync(host).sort()) this.copy(join(path, name), join(host, name));
  }

  link(path: string, target: string): void {
    this.dir(dirname(path));
    this.entries.set(path, { kind: "link", target });
  }

  has(path: string): boolean { return this.entries.has(path); }

  paths(): string[] { return this.sorted().map(([p]) => p); }

  /** Parents before children, so the kernel and mke2fs meet each directory before what is in it. */
  private sorted(): [string, Entry][] {
    return [...this.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  *cpioEntries(): Generator<CpioEntry> {
    for (const [path, e] of this.sorted()) {
      if (e.kind === "dir") yield { path, mode: 0o040000 | e.mode };
      else if (e.kind === "link") yield { path, mode: 0o120777, data: new TextEncoder().encode(e.target) };
      else yield { path, mode: 0o100000 | e.mode, data: e.bytes ?? readFileSync(e.host!) };
    }
  }

  /** Writes the tree under a host directory (a staging area for mke2fs -d). */
  stage(root: string): void {
    for (const [path, e] of this.sorted()) {
      const at = join(root, path);
      if (e.kind === "dir") { mkdirSync(at, { recursive: true }); chmodSync(at, e.mode); continue; }
      if (e.kind === "link") { symlinkSync(e.target, at); continue; }
      if (e.host) copyFileSync(e.host, at, constants.COPYFILE_FICLONE);
      else {
        const fd = openSync(at, "wx", e.mode);
        try { writeSync(fd, e.bytes!); } finally { closeSync(fd); }
      }
      chmodSync(at, e.mode);
    }
  }

  /** Bytes the files take (what the image must hold). */
  size(): number {
    let n = 0;
    for (const [, e] of this.entries) if (e.kind === "file") n += e.bytes?.length ?? lstatSync(e.host!).size;
    return n;
  }
}
