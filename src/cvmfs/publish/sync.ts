import { mkdirSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { errnoCode, UsageError } from "../../cli/errors";
import { RepositoryError } from "../errors";
import type { ContentHash, HashAlgorithm } from "../format/hash";
import { buildCatalog } from "./catalogs";
import { DEFAULT_CHUNKING, type ChunkingOptions } from "./chunker";
import { commitRevision, prepareHistory } from "./commit";
import { publishContent, type ContentProgress } from "./content";
import { isStorageFull, storageError } from "./errors";
import { loadPublisherKeys } from "./keys";
import { acquirePublishLock } from "./lock";
import { openPrevious } from "./previous";
import { LocalStorage } from "./storage";
import { scanTree } from "./tree";

export interface SyncOptions {
  fqrn: string;
  source: string;
  storage: string;
  keysDir: string;
  algorithm: HashAlgorithm;
  ttl: number;
  tag?: string;
  xattrs?: boolean;
  checksum?: boolean;            // re-read every file instead of trusting size+mtime
  chunking?: ChunkingOptions | null;
  now?: Date;
}

export interface SyncResult {
  revision: number;
  rootHash: ContentHash;
  tag: string;
  entries: number;
  filesIngested: number;
  filesReused: number;
  newObjects: number;
  storedBytes: number;
  catalogsWritten: number;
  catalogsReused: number;
}

export type PublishPhase = "scan" | "content" | "catalogs" | "commit";

/** What the caller shows while a revision is published; all optional (src/proxy/init.ts takes InitHooks the same way). */
export interface PublishHooks {
  warning?(message: string): void;
  phase?(name: PublishPhase): void;           // as each phase begins, in this order
  scanned?(entries: number): void;            // during "scan"
  content?(progress: ContentProgress): void;  // during "content", as files and chunks are stored
}

/**
 * Publishes `source` as the next revision: under the publish lock, read the
 * previous revision, scan the source, store changed content, build catalogs
 * bottom-up, then commit (history, reflog, and the signed manifest last).
 */
export async function publishRevision(o: SyncOptions, hooks: PublishHooks = {}): Promise<SyncResult> {
  const storage = openStorage(o.storage, o.source);
  const release = acquirePublishLock(storage.root);
  let closePrevious = () => {};
  try {
    const leftovers = storage.clearTransactions();
    if (leftovers) hooks.warning?.(`removed ${leftovers} unfinished object(s) left in ${join(storage.root, "data", "txn")} by an interrupted publish`);
    const keys = loadPublisherKeys(o.keysDir, o.fqrn);
    const now = o.now ?? new Date();
    const nowSec = Math.floor(now.getTime() / 1000);

    const previous = await openPrevious({ storage: storage.root, fqrn: o.fqrn, masterPublicPem: keys.masterPublicPem, now }, (m) => hooks.warning?.(m));
    closePrevious = () => previous?.repo.close();
    const revision = (previous?.revision ?? 0) + 1;
    const history = await onStorage(storage, "copying the history", () => {
      mkdirSync(storage.workDir, { mode: 0o700 });
      return prepareHistory({ workDir: storage.workDir, fqrn: o.fqrn, tag: o.tag, now, revision }, previous);
    });

    hooks.phase?.("scan");
    const { root, count } = scanTree(o.source, { xattrs: !!o.xattrs, onEntry: hooks.scanned });

    hooks.phase?.("content");
    const content = await publishContent(root, previous, {
      storage: storage.root, algorithm: o.algorithm, chunking: o.chunking === undefined ? DEFAULT_CHUNKING : o.chunking, checksum: !!o.checksum,
    }, hooks.content);

    hooks.phase?.("catalogs");
    const catalogs = { written: 0, reused: 0 };
    const rootCatalog = await onStorage(storage, "writing catalogs", () => {
      storage.syncObjects(); // the content catalogs name is durable before they exist
      return buildCatalog(root, {
        content: content.content, previous: previous?.catalogs ?? new Map(), storage, algorithm: o.algorithm, revision, ttl: o.ttl,
        now: nowSec, workDir: storage.workDir, catalogFiles: 0, onBuilt: (c) => (c.written ? catalogs.written++ : catalogs.reused++),
      });
    });

    hooks.phase?.("commit");
    await onStorage(storage, "committing the revision", () => commitRevision({
      storage, fqrn: o.fqrn, algorithm: o.algorithm, ttl: o.ttl, keys, revision, root: rootCatalog, history,
      explicitTag: o.tag !== undefined, previousHistory: previous?.repo.manifest.history, now: nowSec,
    }));

    return {
      revision, rootHash: rootCatalog.hash, tag: history.tag, entries: count,
      filesIngested: content.filesIngested, filesReused: content.filesReused, newObjects: content.newObjects, storedBytes: content.storedBytes,
      catalogsWritten: catalogs.written, catalogsReused: catalogs.reused,
    };
  } finally {
    closePrevious();
    storage.removeWorkDir();
    release();
  }
}

/** The storage to publish into; refuses a source that is the storage or contains it (the scan would read what the publish writes). */
function openStorage(storageDir: string, source: string): LocalStorage {
  const storage = new LocalStorage(storageDir);
  if (!storage.isStorage()) throw new RepositoryError(`${storageDir}: not a repository storage (no data/txn); run 'cvm publish init' first`);
  const real = (p: string) => {
    try { return realpathSync(p); } catch (err) { throw new RepositoryError(`${p}: cannot resolve: ${errnoCode(err) ?? (err as Error).message}`); }
  };
  const src = real(source), dest = real(storageDir);
  if (dest === src || dest.startsWith(src.endsWith("/") ? src : src + "/"))
    throw new UsageError(`${source}: contains the storage ${storageDir}; publish a directory that does not hold the storage`);
  return storage;
}

/** Runs a step that writes to the storage; a full disk or I/O failure there is named as the storage's. */
async function onStorage<T>(storage: LocalStorage, doing: string, step: () => T | Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof RepositoryError || !(errnoCode(err) || isStorageFull(err))) throw err;
    throw storageError(storage.root, err, doing);
  }
}
