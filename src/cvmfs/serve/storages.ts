import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { basename } from "node:path";
import { CvmError, errnoCode, UsageError } from "../../cli/errors";
import { parseManifest } from "../format/manifest";
import { SIGNED_FILE_LIMIT } from "../client/limits";

/** A repository storage served under /cvmfs/<fqrn>/. */
export interface ServedStorage { fqrn: string; root: string; }

const FQRN = /^[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?)+$/;

/**
 * The repository name a storage is served under: the N field of its
 * .cvmfspublished (read, not verified: serving needs no trust, clients
 * verify), else the directory's name (a replica before its first snapshot).
 */
function nameOf(root: string, given: string): string {
  const manifest = `${root}/.cvmfspublished`;
  if (existsSync(manifest)) {
    try {
      const bytes = readFileSync(manifest);
      if (bytes.length <= SIGNED_FILE_LIMIT) {
        const n = parseManifest(bytes, manifest).manifest.fqrn;
        if (n && FQRN.test(n)) return n;
      }
    } catch { /* unreadable or malformed: fall back to the name of the directory */ }
  }
  const dirName = basename(root);
  if (!FQRN.test(dirName))
    throw new UsageError(`${given}: cannot tell which repository this is (no readable N field in .cvmfspublished, and '${dirName}' is not a repository name); name the directory after the repository`);
  return dirName;
}

/**
 * Resolves each storage directory (a link to it is fine: its real path is
 * what is served) and names it; two storages of the same name are refused.
 */
export function nameStorages(dirs: string[]): ServedStorage[] {
  if (dirs.length === 0) throw new UsageError("give at least one storage directory");
  const out: ServedStorage[] = [];
  const given = new Map<string, string>();
  for (const dir of dirs) {
    let root: string;
    try {
      root = realpathSync(dir);
    } catch (err) {
      throw new CvmError(`${dir}: ${errnoCode(err) === "ENOENT" ? "no such directory" : (err as Error).message}`);
    }
    if (!statSync(root).isDirectory()) throw new CvmError(`${dir}: not a directory`);
    if (root === "/") throw new UsageError(`${dir}: the root directory is not a repository storage`);
    if (!existsSync(`${root}/.cvmfspublished`) && !existsSync(`${root}/data`))
      throw new CvmError(`${dir}: not a repository storage (no .cvmfspublished and no data/ directory)`);
    const fqrn = nameOf(root, dir);
    const earlier = given.get(fqrn);
    if (earlier !== undefined) throw new UsageError(`${earlier} and ${dir} both hold repository ${fqrn}; one server serves each name once`);
    given.set(fqrn, dir);
    out.push({ fqrn, root });
  }
  return out;
}
