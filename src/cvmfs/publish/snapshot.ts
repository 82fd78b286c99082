import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { CvmError } from "../../cli/errors";
import { RepositoryError } from "../errors";
import { objectPath, sameHash, toHex, type ContentHash } from "../format/hash";
import { loadMasterKeys } from "../format/keys";
import { parseManifest, type Manifest } from "../format/manifest";
import { CorruptObjectError } from "../format/object";
import { catalogLimit, CERTIFICATE_LIMIT, METAINFO_LIMIT, SIGNED_FILE_LIMIT } from "../client/limits";
import { Repository } from "../client/repository";
import { DirectorySource, sourceFor, type RepositorySource } from "../client/source";
import { storageError } from "./errors";
import { acquirePublishLock } from "./lock";
import { LocalStorage } from "./storage";
import { collectReplicaGarbage, rootObjectsOf, type ReplicaGcResult } from "./snapshot-gc";
import { dateLine, updateStatus } from "./snapshot-status";
import { Pool, ReplicaStore, settleAll } from "./snapshot-store";
import { Replicator, type CopyStats } from "./snapshot-walk";

/**
 * `cvm publish snapshot`: a stratum 1 replica of a repository (spec §7.4).
 * The source's manifest and whitelist are verified with the trusted master
 * keys; every catalog of the current revision (and, with allTags, of every
 * tagged revision) is walked and whatever the replica lacks is copied, as
 * stored, each object hash-checked; then the root files, the manifest last.
 * Until that rename, readers of the replica see its previous revision whole:
 * nothing it needs is removed or rewritten. Incremental (catalogs present in
 * the replica are complete and skipped) and resumable after a kill.
 */
export interface SnapshotOptions {
  source: string;          // stratum 0/1 URL (http://host/cvmfs/<fqrn>) or storage directory
  fqrn: string;
  storage: string;         // the replica's storage directory (created if missing)
  keysDir?: string;        // extra master keys (*.pub), as --keys for cvm fs
  allTags?: boolean;
  gc?: boolean;
  parallel?: number;       // downloads at once (default 16)
  now?: Date;
}

export interface SnapshotHooks {
  /** As objects are stored (counts so far). */
  progress?(stats: CopyStats): void;
}

export interface SnapshotResult {
  fqrn: string;
  source: string;
  storage: string;
  revision: number;
  previousRevision?: number;
  rootHash: string;
  taggedRevisions: number[];    // older revisions replicated with allTags
  copy: CopyStats;
  gc?: ReplicaGcResult;
}

export const DEFAULT_PARALLEL = 16;

const MARKER = ".cvmfs_last_snapshot";

/** The replica's current manifest, if it has one (read, not verified: it was verified when written). */
function localManifest(root: string): Manifest | undefined {
  const file = join(root, ".cvmfspublished");
  if (!existsSync(file)) return undefined;
  try {
    return parseManifest(readFileSync(file), file).manifest;
  } catch (err) {
    throw new RepositoryError(`${file}: the replica's manifest is unreadable (${(err as Error).message}); remove the replica directory and snapshot again`);
  }
}

/** A new or empty directory, or a replica: never a stratum 0 (published here) or some other directory. */
function checkTarget(root: string, fqrn: string): void {
  if (!existsSync(root)) return;
  if (!statSync(root).isDirectory()) throw new CvmError(`${root}: not a directory`);
  const manifest = localManifest(root);
  if (manifest) {
    if (!existsSync(join(root, MARKER)))
      throw new RepositoryError(`${root}: holds a repository published here (a stratum 0: it has .cvmfspublished but no ${MARKER}); give a separate directory for the replica`);
    if (manifest.fqrn !== fqrn) throw new RepositoryError(`${root}: is a replica of ${manifest.fqrn ?? "(unnamed)"}, not of ${fqrn}`);
    return;
  }
  if (!new LocalStorage(root).isStorage() && readdirSync(root).length > 0)
    throw new CvmError(`${root}: not empty and not a repository storage; give a new or empty directory for the replica`);
}

/**
 * Reads `data/` objects from the replica when it has them (checked all the
 * same), else from the source; keeps the stored bytes of the certificate,
 * history and meta-info that came from the source, to store them as they are.
 */
class ReplicaFirstSource implements RepositorySource {
  readonly location: string;
  readonly fetched = new Map<string, Uint8Array>();
  private readonly replica: DirectorySource;

  constructor(private readonly upstream: RepositorySource, replicaRoot: string) {
    this.location = upstream.location;
    this.replica = new DirectorySource(replicaRoot);
  }

  async get<T = Uint8Array>(path: string, maxBytes: number, accept: (bytes: Uint8Array) => T | Promise<T> = ((b: Uint8Array) => b) as never): Promise<T> {
    if (path.startsWith("data/") && existsSync(join(this.replica.location, path))) {
      try {
        return await this.replica.get(path, maxBytes, accept);
      } catch (err) {
        if (!(err instanceof RepositoryError) && !(err instanceof CorruptObjectError)) throw err; // a damaged local copy: the source's replaces it
      }
    }
    return this.upstream.get(path, maxBytes, async (bytes) => {
      const out = await accept(bytes);
      if (/^data\/.*[XHM]$/.test(path)) this.fetched.set(path, bytes);
      return out;
    });
  }
}

export async function snapshotRepository(o: SnapshotOptions, hooks: SnapshotHooks = {}): Promise<SnapshotResult> {
  const root = resolve(o.storage);
  const now = o.now ?? new Date();
  const upstream = sourceFor(o.source);
  if (upstream instanceof DirectorySource) {
    if (!existsSync(upstream.location) || !statSync(upstream.location).isDirectory()) throw new CvmError(`${o.source}: no such directory`);
    if (existsSync(root) && realpathSync(upstream.location) === realpathSync(root)) throw new CvmError(`${o.source}: the source is the replica itself`);
  }
  checkTarget(root, o.fqrn);
  const masterKeys = loadMasterKeys({ keysDir: o.keysDir }).map((k) => k.key);
  const named = (err: unknown, revision?: number) => {
    if (!(err instanceof RepositoryError)) return err;
    // the reader names the signed files bare; here the source they came from matters
    const where = /^\.cvmfs(published|whitelist)\b/.test(err.message) ? `${upstream.location}/` : "";
    return new RepositoryError(where + err.message + (revision === undefined ? "" : `; the replica keeps revision ${revision}`));
  };

  // The source is verified before anything is written: a source that cannot be reached or trusted leaves no trace.
  const reading = new ReplicaFirstSource(upstream, root);
  let repo: Repository;
  try {
    repo = await Repository.open({ source: reading, fqrn: o.fqrn, masterKeys, now, state: null });
  } catch (err) {
    throw named(err, existsSync(root) ? localManifest(root)?.revision : undefined);
  }
  try {
    const storage = new LocalStorage(root);
    try {
      if (!storage.isStorage()) {
        mkdirSync(root, { recursive: true });
        storage.createSkeleton();
      }
    } catch (err) {
      throw storageError(root, err, "creating the replica's storage");
    }
    let release: () => void;
    try {
      release = acquirePublishLock(root);
    } catch (err) {
      if (err instanceof RepositoryError) throw new RepositoryError(err.message.replace("another publish is running", "another publish or snapshot is running"));
      throw err;
    }
    const previous = localManifest(root); // under the lock: what the replica serves until this run ends
    try {
      storage.clearTransactions(); // what a killed run left in data/txn
      storage.writeRootFile(".cvmfs_is_snapshotting", Buffer.from(dateLine(now) + "\n"));
      mkdirSync(storage.workDir, { recursive: true, mode: 0o700 });
      return await replicate(o, hooks, { root, storage, upstream, reading, repo, previous });
    } catch (err) {
      throw named(err, previous?.revision);
    } finally {
      storage.removeWorkDir();
      rmSync(join(root, ".cvmfs_is_snapshotting"), { force: true });
      release();
    }
  } finally {
    repo.close();
  }
}

interface Context {
  root: string;
  storage: LocalStorage;
  upstream: RepositorySource;
  reading: ReplicaFirstSource;
  repo: Repository;         // the source's current revision, verified
  previous?: Manifest;
}

async function replicate(o: SnapshotOptions, hooks: SnapshotHooks, c: Context): Promise<SnapshotResult> {
  const { repo, reading } = c;
  const m = repo.manifest;
  if (c.previous) {
    const p = c.previous;
    if (m.revision < p.revision || (m.revision === p.revision && !sameHash(m.rootHash, p.rootHash)))
      throw new RepositoryError(`${c.upstream.location}: serves revision ${m.revision} (root ${toHex(m.rootHash)}), but the replica already has revision ${p.revision}${m.revision === p.revision ? ` with root ${toHex(p.rootHash)}` : ""}: a replica never goes back (is the source a stale stratum 1?)`);
  }
  const store = new ReplicaStore(c.storage);
  const pool = new Pool(o.parallel ?? DEFAULT_PARALLEL);
  const copier = new Replicator(c.upstream, store, pool, c.storage.workDir, hooks.progress);

  const history = await repo.tags(); // read to know the tagged revisions (allTags) and the previous one (gc)
  const tags = o.allTags ? history : [];
  const roots: ContentHash[] = [m.rootHash];
  const taggedRevisions: number[] = [];
  for (const t of tags) {
    if (roots.some((r) => sameHash(r, t.hash))) continue;
    roots.push(t.hash);
    taggedRevisions.push(t.revision);
  }
  await settleAll(roots.map((h, i) => copier.catalog(h, i === 0 ? "" : `tagged revision ${taggedRevisions[i - 1]}`)), pool);

  // Certificate, history, meta-info: as the source stores them (those fetched to verify or read are kept as fetched).
  const fixed: [ContentHash | undefined, "X" | "H" | "M", number, string][] = [
    [m.certificate, "X", CERTIFICATE_LIMIT, "certificate"], [m.history, "H", catalogLimit(), "history database"], [m.metainfo, "M", METAINFO_LIMIT, "meta-info"],
  ];
  for (const [hash, suffix, limit, what] of fixed) {
    if (!hash) continue;
    const path = objectPath(hash, suffix);
    const fetched = reading.fetched.get(path);
    if (fetched) store.put(path, fetched);
    else if (!store.has(path)) store.put(path, await copier.download(path, hash, limit, what));
  }
  if (m.alternativePaths) alternativePaths(c.root, m);
  c.storage.syncObjects();

  if (repo.whitelist.pkcs7) {
    const pkcs7 = await c.upstream.get(".cvmfswhitelist.pkcs7", SIGNED_FILE_LIMIT);
    c.storage.writeRootFile(".cvmfswhitelist.pkcs7", pkcs7);
  }
  const stamp = dateLine(new Date());
  c.storage.writeRootFile(MARKER, Buffer.from(stamp + "\n"));
  updateStatus(c.storage, { last_snapshot: stamp });
  c.storage.writeRootFile(".cvmfswhitelist", repo.signedFiles.whitelist);
  c.storage.writeRootFile(".cvmfspublished", repo.signedFiles.manifest); // as signed: from here on readers see the new revision

  const result: SnapshotResult = {
    fqrn: o.fqrn, source: c.upstream.location, storage: c.root, revision: m.revision, previousRevision: c.previous?.revision,
    rootHash: toHex(m.rootHash), taggedRevisions, copy: copier.stats,
  };
  if (o.gc) {
    // Kept: what the replica now serves, the revision before it (clients may still be reading it: the one the
    // replica served until now, and the history's trunk-previous when the replica has it), and the tagged revisions replicated.
    const undo = history.find((t) => t.name === "trunk-previous");
    const kept = [...roots, ...(c.previous ? [c.previous.rootHash] : []), ...(undo && store.has(objectPath(undo.hash, "C")) ? [undo.hash] : [])];
    result.gc = await collectReplicaGarbage(c.storage, kept, [...rootObjectsOf(m), ...(c.previous ? rootObjectsOf(c.previous) : [])], c.storage.workDir);
    updateStatus(c.storage, { last_gc: dateLine(new Date()) });
  }
  return result;
}

/**
 * With A=yes in the manifest, clients fetch the root catalog and the
 * certificate from .cvmfsalt-<hash><suffix> (spec §1.2): links to the objects,
 * which cvm serve follows (they stay inside the storage).
 */
function alternativePaths(root: string, m: Manifest): void {
  for (const [hash, suffix] of [[m.rootHash, "C"], [m.certificate, "X"]] as const) {
    if (!hash) continue;
    const name = join(root, `.cvmfsalt-${toHex(hash)}${suffix}`);
    try { lstatSync(name); continue; } catch { /* not there yet */ }
    try {
      symlinkSync(objectPath(hash, suffix), name);
    } catch (err) {
      throw storageError(root, err, `linking ${name}`);
    }
  }
}
