import type { Dirent } from "../format/dirent";

/**
 * Inode numbers for a mounted revision: 1 is the root; every other path gets
 * the next number the first time it is looked up and keeps it while this
 * table lives (a revision). The members of a hardlink group (one catalog,
 * one directory, one group number) share one inode, so `stat` shows the
 * same st_ino and the right st_nlink. A new revision gets a new table whose
 * numbers start above the old one's, so the kernel never confuses an inode
 * of the old tree with one of the new.
 */
export interface Node { ino: number; path: string; dirent: Dirent; }

export class InodeTable {
  private readonly byIno = new Map<number, Node>();
  private readonly byKey = new Map<string, number>();
  private next: number;

  constructor(readonly generation: number, firstIno: number, root: Dirent) {
    this.next = firstIno;
    this.byIno.set(1, { ino: 1, path: "", dirent: root });
    this.byKey.set("", 1);
  }

  /** The highest number handed out, for the next table to start above. */
  get last(): number { return this.next - 1; }

  get(ino: number): Node | undefined {
    return this.byIno.get(ino);
  }

  /** The inode for a looked-up entry: by hardlink group when it has one, else by path. */
  inodeFor(d: Dirent): number {
    const key = d.hardlinkGroup && d.kind === "file" ? `\0hardlink\0${d.path.slice(0, d.path.lastIndexOf("/"))}\0${d.hardlinkGroup}` : d.path;
    let ino = this.byKey.get(key);
    if (ino === undefined) {
      ino = this.next++;
      this.byKey.set(key, ino);
    }
    this.byIno.set(ino, { ino, path: d.path, dirent: d });
    return ino;
  }

  get size(): number { return this.byIno.size; }
}
