import type { Dirent } from "../format/dirent";
import type { Repository } from "./repository";

/**
 * One mounted revision and what still refers to it: being the current one,
 * inodes of it the kernel still holds, files and directory listings open in
 * it, requests running in it. When nothing does any more, its catalogs are
 * closed and their cache pins released (the cache itself is the mount's).
 */
export class Revision {
  private refs = 1;   // the mount's own while it is the current revision
  constructor(readonly repo: Repository, private readonly closed?: (r: Revision) => void) {}

  get number(): number { return this.repo.manifest.revision; }
  get open(): boolean { return this.refs > 0; }

  hold(): void {
    if (this.refs === 0) throw new Error(`revision ${this.number} is closed`);
    this.refs++;
  }

  release(): void {
    if (this.refs === 0) return;
    if (--this.refs > 0) return;
    this.repo.release();
    this.closed?.(this);
  }

  /** Runs `f` with this revision held, so it cannot close under a request still reading its catalogs. */
  async within<T>(f: () => Promise<T>): Promise<T> {
    this.hold();
    try {
      return await f();
    } finally {
      this.release();
    }
  }
}

/** An inode the kernel knows: a path (or hardlink group) in one revision, and how many lookups of it the kernel holds. */
export interface Node { ino: number; path: string; dirent: Dirent; revision: Revision; lookups: number; }

/**
 * The inodes of a mount, counted as the kernel counts them: every entry the
 * kernel receives (a LOOKUP answer, an entry of a READDIRPLUS answer) is one
 * more lookup of its inode, FORGET takes lookups back, and at none the kernel
 * holds the inode no more and it goes, with its hold on its revision. So the
 * table holds what the kernel holds, however many revisions the mount has seen.
 *
 * 1 is the root, always the current revision's. Numbers are handed out in
 * the current revision by path (hardlink group members share one, so `stat`
 * shows the same st_ino and the right st_nlink) and a path keeps its number
 * while its revision is current, forgotten or not; a new revision starts
 * numbering above every number handed out, so the kernel never confuses an
 * inode of an older tree with one of the new.
 */
export class InodeTable {
  private readonly nodes = new Map<number, Node>();
  private numbers = new Map<string, number>();
  private next = 2;
  private root: Node;

  constructor(revision: Revision, root: Dirent) {
    this.root = { ino: 1, path: "", dirent: root, revision, lookups: 1 };
  }

  get current(): Revision { return this.root.revision; }

  get(ino: number): Node | undefined {
    return ino === 1 ? this.root : this.nodes.get(ino);
  }

  /** The number `d` has in the current revision: by hardlink group when it has one, else by path. */
  number(d: Dirent): number {
    if (d.path === "") return 1;
    const key = d.hardlinkGroup && d.kind === "file" ? `\0hardlink\0${d.path.slice(0, d.path.lastIndexOf("/"))}\0${d.hardlinkGroup}` : d.path;
    let ino = this.numbers.get(key);
    if (ino === undefined) {
      ino = this.next++;
      this.numbers.set(key, ino);
    }
    return ino;
  }

  /**
   * The kernel received an entry for inode `ino` (`d` in `revision`): one
   * lookup more. The first makes the node, holding its revision.
   */
  count(ino: number, d: Dirent, revision: Revision): Node {
    if (ino === 1) return this.root;
    let n = this.nodes.get(ino);
    if (!n) {
      revision.hold();
      n = { ino, path: d.path, dirent: d, revision, lookups: 0 };
      this.nodes.set(ino, n);
    }
    n.lookups++;
    return n;
  }

  /** The kernel forgot `nlookup` lookups of `ino`; at none the node goes. The root is never forgotten. */
  forget(ino: number, nlookup: number): void {
    const n = this.nodes.get(ino);
    if (!n) return;
    n.lookups -= nlookup;
    if (n.lookups > 0) return;
    this.nodes.delete(ino);
    n.revision.release();
  }

  /** `revision` becomes the current one: the root shows its tree, its paths get numbers of their own. */
  switchTo(revision: Revision, root: Dirent): void {
    this.root = { ino: 1, path: "", dirent: root, revision, lookups: 1 };
    this.numbers = new Map();
  }

  /** Inodes the kernel holds (the root included). */
  get size(): number { return this.nodes.size + 1; }

  /** Held inodes per revision number, for the talk socket. */
  held(): Map<number, number> {
    const out = new Map<number, number>();
    for (const n of this.nodes.values()) out.set(n.revision.number, (out.get(n.revision.number) ?? 0) + 1);
    return out;
  }
}
