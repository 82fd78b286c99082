import type { Dirent } from "../format/dirent";
import type { Repository } from "./repository";

/**
 * One mounted revision and what still refers to it. Users read its catalogs:
 * being the current one, files and directory listings open in it, requests
 * running in it. Inodes of it the kernel still holds need only the entries
 * they were given, so a revision left with inodes alone has its catalogs
 * closed and their cache pins released (a kernel that never forgets keeps
 * one SQLite connection per revision otherwise); a later user (opening such
 * an inode, its user.chunks) opens them again, verified as the first time.
 * With neither left, the revision is closed. The cache itself is the mount's.
 */
export class Revision {
  private users = 1;   // the mount's own while it is the current revision
  private inodes = 0;
  constructor(readonly repo: Repository, private readonly closed?: (r: Revision) => void) {}

  get number(): number { return this.repo.manifest.revision; }
  get open(): boolean { return this.users + this.inodes > 0; }

  /** One user more: its catalogs are (re)opened as it reads them. */
  hold(): void {
    if (!this.open) throw new Error(`revision ${this.number} is closed`);
    this.users++;
  }

  release(): void {
    if (this.users === 0) return;
    if (--this.users === 0) this.settle();
  }

  /** An inode of this revision the kernel now holds. */
  holdInode(): void {
    if (!this.open) throw new Error(`revision ${this.number} is closed`);
    this.inodes++;
  }

  releaseInode(): void {
    if (this.inodes === 0) return;
    if (--this.inodes === 0 && this.users === 0) this.closed?.(this);
  }

  /** No user left: the catalogs go (inodes keep their entries); with no inode either, the revision is closed. */
  private settle(): void {
    this.repo.release();
    if (this.inodes === 0) this.closed?.(this);
  }

  /** Runs `f` with this revision held, so its catalogs cannot close under a request still reading them. */
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
      revision.holdInode();
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
    n.revision.releaseInode();
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
