import { chownSync, closeSync, fsyncSync, linkSync, lutimesSync, mkdirSync, openSync, symlinkSync, utimesSync, writeSync, chmodSync } from "node:fs";
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
 * root. Files are created exclusively, so nothing outside `dest` is touched.
 */
export async function exportTree(repo: Repository, path: string, dest: string): Promise<ExportStats> {
  const stats: ExportStats = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, bytes: 0 };
  const asRoot = process.getuid?.() === 0;
  const top = await repo.stat(path);
  const dirTimes: [string, Dirent][] = [];

  const own = (target: string, d: Dirent) => { if (asRoot) { try { chownSync(target, d.uid, d.gid); } catch { /* best effort */ } } };

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
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    own(target, d);
    chmodSync(target, d.mode & 0o7777);
    utimesSync(target, d.mtime, d.mtime);
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
        await copy(child, childTarget);
        if (child.kind === "file" && child.hardlinkGroup) groups.set(child.hardlinkGroup, childTarget);
      }
      own(target, d);
      dirTimes.push([target, d]); // modes and times after the children are in
    } else if (d.kind === "symlink") {
      symlinkSync(d.symlink ?? "", target);
      if (asRoot) { try { chownSync(target, d.uid, d.gid); } catch { /* best effort */ } }
      try { lutimesSync(target, d.mtime, d.mtime); } catch { /* not everywhere */ }
      stats.symlinks++;
    } else if (d.kind === "file") {
      await writeFile(target, d);
    } else {
      throw new RepositoryError(`${d.path}: special files are not exported`);
    }
  };

  await copy(top, dest);
  for (const [target, d] of dirTimes) { // children before parents: a read-only parent comes last
    chmodSync(target, d.mode & 0o7777);
    utimesSync(target, d.mtime, d.mtime);
  }
  return stats;
}
