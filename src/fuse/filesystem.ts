/**
 * The read-only filesystem a FUSE session serves, in inode numbers (1 is the
 * root), knowing nothing of CernVM-FS: src/cvmfs implements it, src/fuse
 * speaks the kernel protocol around it. The arrows go one way, as go-fuse's
 * fs/ and fuse/. Every method may throw FuseError(errno); any other error is
 * answered EIO (and logged by the session).
 */

export class FuseError extends Error {
  constructor(readonly errno: number, message?: string) {
    super(message ?? `errno ${errno}`);
    this.name = "FuseError";
  }
}

/** What `stat` shows of an inode. Times are in seconds plus nanoseconds. */
export interface Attr {
  ino: number;
  mode: number;          // full st_mode, type bits included
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;         // seconds
  mtimeNs?: number;
  rdev?: number;
}

/** A lookup's answer: the inode, its attributes, and how long the kernel may cache each (ms). */
export interface Entry {
  attr: Attr;
  entryTtlMs: number;
  attrTtlMs: number;
}

export interface OpenResult {
  fh?: number;             // the filesystem's handle for this open file (default 0)
  keepCache?: boolean;     // FOPEN_KEEP_CACHE: the page cache stays valid across opens
  directIo?: boolean;
  /**
   * A descriptor of a complete, verified local copy of the whole file: with
   * FUSE passthrough (kernel ≥ 6.9, CAP_SYS_ADMIN) the kernel then reads it
   * directly and READ requests never reach the filesystem. The session
   * closes it. Ignored (and closed) when passthrough is unavailable.
   */
  passthroughFd?: number;
}

export interface DirEntry {
  name: string;
  attr: Attr;              // ino and mode (type) are always needed; the rest for READDIRPLUS
  entryTtlMs: number;
  attrTtlMs: number;
}

export interface Statfs {
  blocks: number; bfree: number; bavail: number; files: number; ffree: number;
  bsize: number; namelen: number; frsize: number;
}

export interface ReadOnlyFilesystem {
  /**
   * Lookup counting, as the kernel does it: every entry the kernel receives
   * (a LOOKUP answer, an entry of a READDIRPLUS answer) is one more lookup of
   * its inode; FORGET takes `nlookup` of them back, and at none the kernel
   * no longer uses the inode. `lookup` counts its own answer (the session
   * takes it back with `forget` when the answer could not be delivered);
   * `remember` counts an entry of the directory opened as `dirFh`, called by
   * the session once a READDIRPLUS answer carrying it was delivered.
   */
  lookup(parent: number, name: string): Promise<Entry>;            // ENOENT when absent
  remember?(dirFh: number, ino: number): void;
  forget?(ino: number, nlookup: number): void;
  getattr(ino: number): Promise<{ attr: Attr; attrTtlMs: number }>;
  readlink(ino: number): Promise<string>;
  open(ino: number, flags: number): Promise<OpenResult>;
  read(ino: number, fh: number, offset: number, size: number): Promise<Uint8Array>;
  release(ino: number, fh: number): Promise<void>;
  opendir(ino: number): Promise<{ fh?: number }>;
  /** Every entry of the directory, "." and ".." excluded (the session adds them and pages by offset). */
  readdir(ino: number, fh: number): Promise<DirEntry[]>;
  releasedir(ino: number, fh: number): Promise<void>;
  statfs(): Promise<Statfs>;
  getxattr(ino: number, name: string): Promise<Uint8Array>;         // ENODATA when absent
  listxattr(ino: number): Promise<string[]>;
  destroy?(): void;
}
