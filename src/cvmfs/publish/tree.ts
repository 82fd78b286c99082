import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from "node:fs";
import { join } from "node:path";
import { errnoCode } from "../../cli/errors";
import { RepositoryError } from "../errors";
import { describeErrno } from "./errors";
import { readXattrs } from "../../sys/xattr";

/** One entry of the source tree to publish. */
export interface SourceNode {
  path: string;                 // repository path: "" for the root, "/a/b"
  name: string;
  abs: string;                  // where it is on disk
  kind: "dir" | "file" | "symlink";
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  mtimeNs: number;
  dev: bigint;                  // with ino, what makes hardlinks one file
  ino: bigint;
  nlink: number;
  symlink?: string;
  xattrs?: Map<string, Uint8Array>;
  children?: SourceNode[];      // dirs, sorted by name
  catalogRoot: boolean;         // the root, or a dir holding a .cvmfscatalog marker
}

const S_IFMT = 0o170000, S_IFDIR = 0o040000, S_IFREG = 0o100000, S_IFLNK = 0o120000;
const SPECIAL: Record<number, string> = { 0o140000: "a socket", 0o010000: "a fifo", 0o020000: "a character device", 0o060000: "a block device" };
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

export interface ScanOptions { xattrs: boolean; onEntry?: (n: number) => void; }

/**
 * Reads the whole source tree with lstat (symlinks are published as links,
 * never followed). Sockets, fifos and devices are refused with their path.
 */
export function scanTree(root: string, opts: ScanOptions): { root: SourceNode; count: number } {
  let count = 0;
  const visit = (abs: string, path: string, name: string): SourceNode => {
    let st: BigIntStats;
    try {
      st = lstatSync(abs, { bigint: true });
    } catch (err) {
      if (errnoCode(err) === "ENOENT" && path !== "") throw new RepositoryError(`${abs}: vanished during the scan`);
      throw new RepositoryError(`${abs}: cannot read: ${describeErrno(err)}`);
    }
    const type = Number(st.mode) & S_IFMT;
    if (SPECIAL[type]) throw new RepositoryError(`${abs}: is ${SPECIAL[type]}; only files, directories and symlinks can be published`);
    const node: SourceNode = {
      path, name, abs,
      kind: type === S_IFDIR ? "dir" : type === S_IFLNK ? "symlink" : "file",
      mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid), size: Number(st.size),
      mtime: Number(st.mtimeNs / 1_000_000_000n), mtimeNs: Number(st.mtimeNs % 1_000_000_000n),
      dev: st.dev, ino: st.ino, nlink: Number(st.nlink), catalogRoot: path === "",
    };
    if (type !== S_IFDIR && type !== S_IFREG && type !== S_IFLNK) throw new RepositoryError(`${abs}: unsupported file type`);
    count++;
    opts.onEntry?.(count);
    if (opts.xattrs) {
      const x = sourceCall(abs, "cannot read the extended attributes", () => readXattrs(abs));
      if (x.size) node.xattrs = x;
    }
    if (node.kind === "symlink") {
      node.symlink = decodeName(sourceCall(abs, "cannot read the link", () => readlinkSync(abs, { encoding: "buffer" })), abs);
      node.size = Buffer.byteLength(node.symlink);
    } else if (node.kind === "dir") {
      const entries = sourceCall(abs, "cannot read the directory", () => readdirSync(abs, { encoding: "buffer" }));
      const names = entries.map((n) => decodeName(n, join(abs, n.toString())));
      names.sort();
      node.children = names.map((n) => visit(join(abs, n), `${path}/${n}`, n));
      node.catalogRoot ||= names.includes(".cvmfscatalog");
    }
    return node;
  };
  const top = visit(root, "", "");
  if (top.kind !== "dir") throw new RepositoryError(`${root}: not a directory`);
  return { root: top, count };
}

/** A system call on a source path; its failure as one line naming the path. */
function sourceCall<T>(abs: string, doing: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (errnoCode(err) === "ENOENT") throw new RepositoryError(`${abs}: vanished during the scan`);
    throw new RepositoryError(`${abs}: ${doing}: ${describeErrno(err)}`);
  }
}

function decodeName(bytes: Buffer, where: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new RepositoryError(`${where}: the name is not valid UTF-8`);
  }
}

/**
 * Files that are one file under several names: same device and inode, more
 * than one link. Groups of two or more, in the order first seen.
 */
export function hardlinkGroups(files: Iterable<SourceNode>): Map<string, SourceNode[]> {
  const groups = new Map<string, SourceNode[]>();
  for (const f of files) {
    if (f.kind !== "file" || f.nlink < 2) continue;
    const key = `${f.dev}:${f.ino}`; // inode numbers repeat across filesystems
    const g = groups.get(key);
    if (g) g.push(f);
    else groups.set(key, [f]);
  }
  for (const [k, g] of groups) if (g.length < 2) groups.delete(k);
  return groups;
}
