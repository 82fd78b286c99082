import { closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, rmSync, symlinkSync } from "node:fs";
import { open } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { CvmError, errnoCode } from "../../cli/errors";
import { renameNoReplace } from "../../sys/rename";
import { syncfs } from "../../sys/syncfs";
import type { Dirent } from "../format/dirent";
import { RepositoryError } from "../errors";
import type { Repository } from "./repository";

export interface ExportStats { files: number; dirs: number; symlinks: number; hardlinks: number; bytes: number; }

/** A name from a catalog must be one path component: nothing that could climb out of the destination. */
function safeName(d: Dirent): string {
  if (!d.name || d.name === "." || d.name === ".." || d.name.includes("/") || d.name.includes("\0"))
    throw new RepositoryError(`${d.path}: unsafe entry name '${d.name}' in the catalog`);
  return d.name;
}

const exists = (path: string) => { try { lstatSync(path); return true; } catch { return false; } };

/**
 * Copies a repository subtree to `dest` (which must not exist) with modes,
 * mtimes, symlinks (raw targets) and hardlinks; ownership too when run as
 * root. The tree is built in a hidden sibling and renamed to `dest` only when
 * complete (a failure leaves nothing behind). Links are never followed
 * (lchown, lutimes; modes and times set through the open file), so a link in
 * the repository cannot make us change anything outside `dest`, nor anything
 * inside it twice. Files download `parallel` at a time.
 */
export async function exportTree(repo: Repository, path: string, dest: string, o: { parallel?: number } = {}): Promise<ExportStats> {
  if (exists(dest)) throw new CvmError(`${dest}: already exists`);
  const top = await repo.stat(path);
  const staging = join(dirname(dest), `.${basename(dest)}.cvm-${randomBytes(4).toString("hex")}`);
  try {
    const stats = await build(repo, top, staging, o.parallel ?? 16);
    const fd = openSync(dirname(dest), constants.O_RDONLY | constants.O_DIRECTORY);
    try { syncfs(fd); } finally { closeSync(fd); } // one flush for the whole tree, not one per file
    try {
      renameNoReplace(staging, dest);
    } catch (err) {
      throw new CvmError(`${dest}: ${errnoCode(err) === "EEXIST" ? "appeared while exporting; the export is discarded" : (err as Error).message}`);
    }
    return stats;
  } catch (err) {
    rmSync(staging, { recursive: true, force: true }); // rm never follows links
    if (err instanceof CvmError || !errnoCode(err)) throw err;
    throw new CvmError(`${dest}: ${(err as Error).message.replace(staging, dest)}`);
  }
}

interface FileJob { d: Dirent; target: string; }

/** Pieces of one file fetched ahead of the one being written. */
const PIECES_AHEAD = 4;

/**
 * Bytes of content in flight across all files: bounds memory whatever the
 * chunk sizes. A piece larger than the whole budget takes all of it.
 */
class ByteBudget {
  private waiters: (() => void)[] = [];
  private free: number;
  constructor(private readonly total: number) { this.free = total; }
  async take(n: number): Promise<number> {
    const want = Math.min(n, this.total);
    while (this.free < want) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.free -= want;
    return want;
  }
  give(n: number): void {
    this.free += n;
    for (const wake of this.waiters.splice(0)) wake();
  }
}

async function build(repo: Repository, top: Dirent, root: string, parallel: number): Promise<ExportStats> {
  const stats: ExportStats = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, bytes: 0 };
  const asRoot = process.getuid?.() === 0;
  // Ownership is best effort (an id the system cannot hold), never through a link.
  const own = (target: string, d: Dirent) => { if (asRoot) { try { lchownSync(target, d.uid, d.gid); } catch { /* best effort */ } } };
  const files: FileJob[] = [];
  const links: [string, string][] = [];     // hardlink target → first member, made once the member is written
  const dirs: [string, Dirent][] = [];      // modes and times once the children are in, children first
  const budget = new ByteBudget(256 << 20);

  // The shape first: directories and symlinks from the catalogs, files queued.
  const place = (d: Dirent, target: string) => {
    if (d.kind === "symlink") {
      symlinkSync(d.symlink ?? "", target);
      own(target, d);
      try { lutimesSync(target, d.mtime, d.mtime); } catch { /* not everywhere */ }
      stats.symlinks++;
    } else if (d.kind === "file") {
      files.push({ d, target });
    } else if (d.kind !== "dir") {
      throw new RepositoryError(`${d.path}: special files are not exported`);
    }
  };
  const stack: [Dirent, string][] = [[top, root]];
  if (top.kind !== "dir") place(top, root);
  while (stack.length) {
    const [d, target] = stack.pop()!;
    if (d.kind !== "dir") continue;
    mkdirSync(target, { mode: 0o700 });
    own(target, d);
    stats.dirs++;
    dirs.push([target, d]);
    const groups = new Map<number, string>(); // hardlink group → first member's path
    for (const child of await repo.list(d.path)) {
      const childTarget = join(target, safeName(child));
      if (child.kind === "file" && child.hardlinkGroup) {
        const first = groups.get(child.hardlinkGroup);
        if (first) { links.push([childTarget, first]); continue; }
        groups.set(child.hardlinkGroup, childTarget);
      }
      if (child.kind === "dir") stack.push([child, childTarget]);
      else place(child, childTarget);
    }
  }

  // Then the content, `parallel` downloads at a time.
  // Through the thread pool, so the kernel creates files while the main thread downloads and inflates.
  const writeFile = async ({ d, target }: FileJob) => {
    const fh = await open(target, "wx", 0o600);
    try {
      // A chunked file's next pieces download while one is written, within a budget of bytes in flight.
      const pieces = await repo.pieces(d);
      const queue: Promise<{ data: Uint8Array; held: number }>[] = [];
      const start = () => {
        const p = pieces[queue.length];
        const job = budget.take(p.size).then(async (held) => {
          try { return { data: await repo.piece(d, p), held }; } catch (err) { budget.give(held); throw err; }
        });
        job.catch(() => {}); // awaited in order below; a later failure must not go unhandled meanwhile
        queue.push(job);
      };
      for (let i = 0; i < Math.min(PIECES_AHEAD, pieces.length); i++) start();
      for (let i = 0; i < pieces.length; i++) {
        const { data, held } = await queue[i];
        if (queue.length < pieces.length) start();
        await fh.write(data);
        budget.give(held);
        stats.bytes += data.length;
      }
      // Metadata calls are cheap: directly on the descriptor, not through the pool.
      if (asRoot) { try { fchownSync(fh.fd, d.uid, d.gid); } catch { /* best effort */ } }
      fchmodSync(fh.fd, d.mode & 0o7777); // after chown, which clears setuid bits
      futimesSync(fh.fd, d.mtime, d.mtime);
    } finally {
      await fh.close();
    }
    stats.files++;
  };
  let next = 0, failed = false;
  const worker = async () => {
    while (!failed && next < files.length) {
      try { await writeFile(files[next++]); } catch (err) { failed = true; throw err; }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, files.length)) }, worker));

  for (const [target, first] of links) { linkSync(first, target); stats.hardlinks++; }
  for (const [target, d] of dirs.reverse()) { // children before parents: a read-only parent comes last
    const fd = openSync(target, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      fchmodSync(fd, d.mode & 0o7777);
      futimesSync(fd, d.mtime, d.mtime);
    } finally {
      closeSync(fd);
    }
  }
  return stats;
}
