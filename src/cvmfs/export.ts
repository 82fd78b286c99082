import { closeSync, constants, fchmodSync, fchownSync, fsyncSync, futimesSync, lchownSync, linkSync, lutimesSync, mkdirSync, openSync, symlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { CvmError, errnoCode } from "../cli/errors";
import type { Dirent } from "./dirent";
import { RepositoryError } from "./errors";
import type { Repository } from "./repository";

export interface ExportStats { files: number; dirs: number; symlinks: number; hardlinks: number; bytes: number; }

/** A name from a catalog must be one path component: nothing that could climb out of the destination. */
function safeName(d: Dirent): string {
  if (!d.name || d.name === "." || d.name === ".." || d.name.includes("/") || d.name.includes("\0"))
    throw new RepositoryError(`${d.path}: unsafe entry name '${d.name}' in the catalog`);
  return d.name;
}

/**
 * Copies a repository subtree to `dest` (which must not exist) with modes,
 * mtimes, symlinks (raw targets) and hardlinks; ownership too when run as
 * root. Files are created exclusively and finished through their open
 * descriptor; links are never followed (lchown, lutimes, and no chmod on a
 * link), so a link in the repository cannot make us change anything outside
 * `dest`, nor anything inside it twice.
 */
export async function exportTree(repo: Repository, path: string, dest: string): Promise<ExportStats> {
  const stats: ExportStats = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, bytes: 0 };
  const asRoot = process.getuid?.() === 0;
  const top = await repo.stat(path);
  const dirTimes: [string, Dirent][] = [];

  // Ownership is best effort (an id the system cannot hold), never through a link.
  const own = (target: string, d: Dirent) => { if (asRoot) { try { lchownSync(target, d.uid, d.gid); } catch { /* best effort */ } } };

  const writeFile = async (target: string, d: Dirent) => {
    let fd: number;
    try {
      fd = openSync(target, "wx", 0o600);
    } catch (err) {
      throw new CvmError(`${target}: ${errnoCode(err) === "EEXIST" ? "already exists" : (err as Error).message}`);
    }
    try {
      for await (const piece of repo.content(d)) {
        writeSync(fd, piece);
        stats.bytes += piece.length;
      }
      if (asRoot) { try { fchownSync(fd, d.uid, d.gid); } catch { /* best effort */ } }
      fchmodSync(fd, d.mode & 0o7777); // after chown, which clears setuid bits
      futimesSync(fd, d.mtime, d.mtime);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    stats.files++;
  };

  const copy = async (d: Dirent, target: string) => {
    if (d.kind === "dir") {
      try {
        mkdirSync(target, { mode: 0o700 });
      } catch (err) {
        throw new CvmError(`${target}: ${errnoCode(err) === "EEXIST" ? "already exists" : (err as Error).message}`);
      }
      stats.dirs++;
      const groups = new Map<number, string>(); // hardlink group → first member's path
      for (const child of await repo.list(d.path)) {
        const childTarget = join(target, safeName(child));
        if (child.kind === "file" && child.hardlinkGroup && groups.has(child.hardlinkGroup)) {
          linkSync(groups.get(child.hardlinkGroup)!, childTarget);
          stats.hardlinks++;
          continue;
        }
        await step(child, childTarget);
        if (child.kind === "file" && child.hardlinkGroup) groups.set(child.hardlinkGroup, childTarget);
      }
      own(target, d);
      dirTimes.push([target, d]); // modes and times after the children are in
    } else if (d.kind === "symlink") {
      symlinkSync(d.symlink ?? "", target);
      own(target, d);
      try { lutimesSync(target, d.mtime, d.mtime); } catch { /* not everywhere */ }
      stats.symlinks++;
    } else if (d.kind === "file") {
      await writeFile(target, d);
    } else {
      throw new RepositoryError(`${d.path}: special files are not exported`);
    }
  };

  // A system call that fails (a name too long, a full disk, times the filesystem cannot hold) names its target.
  const step = async (d: Dirent, target: string) => {
    try {
      await copy(d, target);
    } catch (err) {
      if (err instanceof CvmError || !errnoCode(err)) throw err;
      throw new CvmError(`${target}: ${(err as Error).message}`);
    }
  };

  await step(top, dest);
  for (const [target, d] of dirTimes) { // children before parents: a read-only parent comes last
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
