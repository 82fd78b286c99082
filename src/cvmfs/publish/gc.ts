import { existsSync, lstatSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createPublicKey } from "node:crypto";
import { join } from "node:path";
import { CatalogReader } from "../format/catalog-reader";
import { RepositoryError } from "../errors";
import { objectPath, parseHex, toHex, type ContentHash, type ObjectSuffix } from "../format/hash";
import { readRefs, type RefType } from "../format/reflog";
import { fetchObject, Repository } from "../client/repository";
import { DirectorySource } from "../client/source";
import { storageError } from "./errors";
import { loadPublisherKeys } from "./keys";
import { acquirePublishLock } from "./lock";
import { LocalStorage } from "./storage";

export interface GcResult {
  revisions: number[];    // tagged revisions whose objects were kept
  catalogs: number;       // distinct catalogs read
  kept: number;           // objects referenced
  removed: string[];      // object paths removed (or, with dryRun, that would be)
  removedBytes: number;
}

const SUFFIX_OF: Record<RefType, ObjectSuffix> = { catalog: "C", certificate: "X", history: "H", metainfo: "M" };
// data/XX/<rest>: the rest of the hex name, an algorithm tag, a type suffix (spec §1.2). Anything else is not ours to judge.
const OBJECT_NAME = /^[0-9a-f]{38}(-rmd160|-shake128)?[CPXHML]?$/;

/**
 * Removes the objects no revision needs: those a failed or killed publish
 * stored before it could commit. Kept is everything reachable from the
 * current manifest, from every tag in the history (so every revision cvm
 * published), and from every root object in the reflog. The whole set is
 * worked out before anything is removed; a catalog that cannot be read stops
 * the collection with nothing removed. Holds the publish lock throughout.
 */
export async function collectGarbage(o: { fqrn: string; storage: string; keysDir: string; dryRun?: boolean; now?: Date }): Promise<GcResult> {
  const storage = new LocalStorage(o.storage);
  if (!storage.isStorage() || !existsSync(join(o.storage, ".cvmfspublished")))
    throw new RepositoryError(`${o.storage}: not a published repository storage (no data/txn or .cvmfspublished)`);
  const release = acquirePublishLock(storage.root);
  // Catalogs are read in the system's temporary directory: the storage may be the disk that is full.
  const scratch = mkdtempSync(join(tmpdir(), "cvm-gc-"));
  let repo: Repository | undefined;
  try {
    if (!o.dryRun) storage.clearTransactions();
    const keys = loadPublisherKeys(o.keysDir, o.fqrn);
    const source = new DirectorySource(storage.root);
    repo = await Repository.open({ source, fqrn: o.fqrn, masterKeys: [createPublicKey(keys.masterPublicPem)], now: o.now, state: null });

    const keep = new Set<string>();
    const catalogRoots: ContentHash[] = [repo.manifest.rootHash];
    const m = repo.manifest;
    for (const [h, suffix] of [[m.certificate, "X"], [m.history, "H"], [m.metainfo, "M"]] as const) if (h) keep.add(objectPath(h, suffix));
    const tags = await repo.tags();
    for (const t of tags) catalogRoots.push(t.hash);
    const reflog = join(storage.root, ".cvmfsreflog");
    if (existsSync(reflog)) {
      for (const ref of readRefs(reflog)) {
        let hash: ContentHash;
        try { hash = parseHex(ref.hash); } catch { throw new RepositoryError(`${reflog}: bad hash '${ref.hash.slice(0, 60)}'; nothing was removed`); }
        if (ref.type === "catalog") catalogRoots.push(hash);
        else keep.add(objectPath(hash, SUFFIX_OF[ref.type]));
      }
    }
    const catalogs = await markCatalogs(source, catalogRoots, keep, scratch);

    const removed: string[] = [];
    let removedBytes = 0;
    for (const path of storedObjects(storage.root)) {
      if (keep.has(path)) continue;
      const file = join(storage.root, path);
      removedBytes += lstatSync(file).size;
      removed.push(path);
      if (!o.dryRun) {
        try { unlinkSync(file); } catch (err) { throw storageError(storage.root, err, `removing ${path}`); }
      }
    }
    return { revisions: [...new Set(tags.map((t) => t.revision))].sort((a, b) => a - b), catalogs, kept: keep.size, removed, removedBytes };
  } finally {
    repo?.close();
    rmSync(scratch, { recursive: true, force: true });
    release();
  }
}

/** Adds every catalog reachable from `roots`, and every object they name, to `keep`; returns how many catalogs were read. */
export async function markCatalogs(source: DirectorySource, roots: ContentHash[], keep: Set<string>, workDir: string): Promise<number> {
  const queue = [...roots];
  let read = 0;
  while (queue.length) {
    const hash = queue.pop()!;
    const path = objectPath(hash, "C");
    if (keep.has(path)) continue;
    keep.add(path);
    const what = `catalog ${toHex(hash)}`;
    let reader: CatalogReader;
    const file = join(workDir, `gc-${read++}.sqlite`);
    try {
      writeFileSync(file, await fetchObject(source, hash, "C", what), { mode: 0o600 });
      reader = CatalogReader.open(file, what);
    } catch (err) {
      throw new RepositoryError(`${what}: ${err instanceof Error ? err.message : String(err)}; nothing was removed`);
    }
    try {
      for (const d of reader.entries()) {
        if (d.kind !== "file") continue;
        if (d.hash) keep.add(objectPath(d.hash, ""));
        if (d.chunked) for (const c of reader.chunks(d.path)) keep.add(objectPath(c.hash, "P"));
      }
      for (const n of reader.nested()) queue.push(n.hash);
    } finally {
      reader.close();
      rmSync(file, { force: true });
    }
  }
  return read;
}

/** Paths (data/XX/…) of the files in the storage named like objects; other files are left alone. */
export function* storedObjects(root: string): Generator<string> {
  for (let i = 0; i < 256; i++) {
    const dir = i.toString(16).padStart(2, "0");
    let names: string[];
    try { names = readdirSync(join(root, "data", dir)); } catch { continue; }
    for (const name of names) if (OBJECT_NAME.test(name)) yield `data/${dir}/${name}`;
  }
}
