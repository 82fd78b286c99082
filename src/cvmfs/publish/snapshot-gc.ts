import { lstatSync, readdirSync, readlinkSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { objectPath, type ContentHash } from "../format/hash";
import { DirectorySource } from "../client/source";
import { storageError } from "./errors";
import { markCatalogs, storedObjects } from "./gc";
import type { LocalStorage } from "./storage";

export interface ReplicaGcResult { kept: number; catalogs: number; removed: number; removedBytes: number; }

/**
 * Removes from a replica every object that none of `roots` (root catalogs)
 * reaches and that is not one of `rootObjects` (certificate, history,
 * meta-info paths), and the .cvmfsalt-* shortcuts left pointing at nothing.
 * The whole keep set is worked out from the replica's own catalogs before
 * anything is removed; a catalog that cannot be read stops it with nothing
 * removed. The caller holds the storage lock.
 */
export async function collectReplicaGarbage(storage: LocalStorage, roots: ContentHash[], rootObjects: string[], workDir: string): Promise<ReplicaGcResult> {
  const keep = new Set(rootObjects);
  const catalogs = await markCatalogs(new DirectorySource(storage.root), roots, keep, workDir);
  let removed = 0, removedBytes = 0;
  const remove = (rel: string) => {
    const file = join(storage.root, rel);
    try {
      removedBytes += lstatSync(file).size;
      unlinkSync(file);
      removed++;
    } catch (err) {
      throw storageError(storage.root, err, `removing ${rel}`);
    }
  };
  for (const path of storedObjects(storage.root)) if (!keep.has(path)) remove(path);
  for (const name of readdirSync(storage.root)) {
    if (!name.startsWith(".cvmfsalt-")) continue;
    let target: string;
    try { target = readlinkSync(join(storage.root, name)); } catch { continue; } // a copy, not a link: left alone
    if (!keep.has(target)) remove(name);
  }
  return { kept: keep.size, catalogs, removed, removedBytes };
}

/** The object paths of a manifest's certificate, history and meta-info. */
export function rootObjectsOf(m: { certificate?: ContentHash; history?: ContentHash; metainfo?: ContentHash }): string[] {
  const out: string[] = [];
  if (m.certificate) out.push(objectPath(m.certificate, "X"));
  if (m.history) out.push(objectPath(m.history, "H"));
  if (m.metainfo) out.push(objectPath(m.metainfo, "M"));
  return out;
}
