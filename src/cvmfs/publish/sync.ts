import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createPublicKey } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { log } from "../../cli/log";
import { Progress } from "../../cli/progress";
import { writeFileAtomic } from "../../sys/atomic";
import { RepositoryError } from "../errors";
import { hashBytes, toHex, type ContentHash, type HashAlgorithm } from "../hash";
import { createHistory, readTags, recordPublish } from "../history";
import { signManifest } from "../manifest";
import { makeObject } from "../object";
import { openReflog } from "../reflog";
import { fetchObject, Repository } from "../repository";
import { DirectorySource } from "../source";
import { daysLeft } from "../whitelist";
import { buildCatalog, type FileContent, type PreviousCatalog } from "./catalogs";
import type { Dirent } from "../dirent";
import { DEFAULT_CHUNKING, type ChunkingOptions } from "./chunker";
import { IngestPool } from "./ingest-pool";
import { loadPublisherKeys } from "./keys";
import { acquirePublishLock } from "./lock";
import { LocalStorage } from "./storage";
import { scanTree, type SourceNode } from "./tree";

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

const WHITELIST_WARN_DAYS = 7;

/** `generic-2026-11-25T02:11:50Z`, as cvmfs_server names automatic tags. */
export const genericTagName = (d: Date) => `generic-${d.toISOString().replace(/\.\d+Z$/, "Z")}`;

/**
 * Publishes `source` as the next revision. Order matters for readers and for
 * crashes: content objects, then catalogs bottom-up, history, reflog, and the
 * signed manifest renamed into place last — until then the previous revision
 * is what everyone sees, and a rerun completes the work.
 */
export async function publishRevision(o: SyncOptions): Promise<SyncResult> {
  const storage = new LocalStorage(o.storage);
  if (!storage.isStorage()) throw new RepositoryError(`${o.storage}: not a repository storage (no data/txn); run 'cvm publish init' first`);
  const release = acquirePublishLock(o.storage);
  const workDir = mkdtempSync(join(tmpdir(), "cvm-publish-"));
  let previousRepo: Repository | undefined;
  try {
    const leftovers = storage.clearTransactions();
    if (leftovers) log.warn(`removed ${leftovers} unfinished object(s) left in ${join(o.storage, "data", "txn")} by an interrupted publish`);
    const keys = loadPublisherKeys(o.keysDir, o.fqrn);
    const now = o.now ?? new Date();
    const nowSec = Math.floor(now.getTime() / 1000);

    // The previous revision, verified like any reader would (this also refuses an expired whitelist).
    const hasPrevious = existsSync(join(o.storage, ".cvmfspublished"));
    if (hasPrevious) {
      previousRepo = await Repository.open({
        source: new DirectorySource(o.storage), fqrn: o.fqrn, masterKeys: [createPublicKey(keys.masterPublicPem)], now, state: null,
      });
      const left = daysLeft(previousRepo.whitelist, now);
      if (left < WHITELIST_WARN_DAYS) log.warn(`the whitelist of ${o.fqrn} expires in ${left.toFixed(1)} days (${previousRepo.whitelist.expires.toISOString()}); renew it with 'cvm publish resign ${o.fqrn}'`);
    }
    const revision = (previousRepo?.manifest.revision ?? 0) + 1;

    // The history so far, and this revision's tag: an explicit tag must be new;
    // an automatic one gets the revision appended if two publishes share a second.
    const historyFile = join(workDir, "history.sqlite");
    if (previousRepo?.manifest.history) {
      writeFileAtomic(historyFile, await fetchObject(previousRepo.source, previousRepo.manifest.history, "H", "history database"), 0o600);
    } else createHistory(historyFile, { fqrn: o.fqrn });
    const taken = new Map(readTags(historyFile).map((t) => [t.name, t.revision]));
    if (o.tag && (taken.has(o.tag) || o.tag === "trunk" || o.tag === "trunk-previous"))
      throw new RepositoryError(`tag '${o.tag}' already exists${taken.has(o.tag) ? ` (revision ${taken.get(o.tag)})` : ""}; choose another name`);
    const tag = o.tag ?? (taken.has(genericTagName(now)) ? `${genericTagName(now)}-r${revision}` : genericTagName(now));

    const scanning = new Progress("scanning", 0);
    const { root, count } = scanTree(o.source, { xattrs: !!o.xattrs, onEntry: (n) => scanning.update(n, "entries", n) });
    scanning.done();

    const previous = new Map<string, PreviousCatalog>();
    const previousFiles = new Map<string, { reader: PreviousCatalog["reader"]; dirent: Dirent }>();
    if (previousRepo) {
      const sizes = new Map<string, number>([["", previousRepo.manifest.rootCatalogSize ?? 0]]);
      for await (const cat of previousRepo.catalogs()) {
        previous.set(cat.mountpoint, { reader: cat.reader, hash: cat.hash, size: sizes.get(cat.mountpoint) ?? 0 });
        for (const n of cat.reader.nested()) sizes.set(n.path, n.size);
        for (const d of cat.reader.entries()) {
          if (d.kind !== "file" || (!d.hash && !d.chunked)) continue;
          previousFiles.set(d.path, { reader: cat.reader, dirent: d });
        }
      }
    }

    // Decide which files need reading: unchanged size and mtime reuse the previous content.
    const files: SourceNode[] = [];
    const collect = (n: SourceNode) => { if (n.kind === "file") files.push(n); n.children?.forEach(collect); };
    collect(root);
    const content = new Map<string, FileContent>();
    const toIngest: SourceNode[] = [];
    for (const f of files) {
      const prev = previousFiles.get(f.path);
      const d = prev?.dirent;
      if (!o.checksum && prev && d && d.size === f.size && d.mtime === f.mtime && (d.mtimeNs === undefined || d.mtimeNs === f.mtimeNs)) {
        content.set(f.path, { hash: d.hash, compressed: d.compressed, chunks: d.chunked ? prev.reader.chunks(f.path) : undefined });
      } else toIngest.push(f);
    }

    // Hardlinked files are read once per inode.
    const inodeKey = (f: SourceNode) => (f.nlink > 1 ? `${f.dev}:${f.ino}` : f.path);
    const seen = new Set<string>();
    const unique = toIngest.filter((f) => !seen.has(inodeKey(f)) && (seen.add(inodeKey(f)), true));
    const pool = IngestPool.create({ storageDir: o.storage, algorithm: o.algorithm, chunking: o.chunking === undefined ? DEFAULT_CHUNKING : o.chunking });
    let newObjects = 0, storedBytes = 0, done = 0;
    const totalBytes = unique.reduce((s, f) => s + f.size, 0);
    let doneBytes = 0;
    const ingesting = new Progress("publishing", unique.length);
    const results = new Map<string, FileContent>();
    try {
      await Promise.all(unique.map(async (f) => {
        const r = await pool.ingest(f.abs, f.size);
        newObjects += r.newObjects;
        storedBytes += r.storedBytes;
        doneBytes += f.size;
        ingesting.update(++done, `files, ${(doneBytes / 1048576).toFixed(0)}/${(totalBytes / 1048576).toFixed(0)} MB`);
        results.set(inodeKey(f), { hash: r.hash, chunks: r.chunks, compressed: true });
      }));
    } finally {
      ingesting.done();
      await pool.close();
    }
    for (const f of toIngest) content.set(f.path, results.get(inodeKey(f))!);

    // Catalogs, bottom-up, once the content they name is on disk.
    storage.syncObjects();
    const catalogStats = { written: 0, reused: 0 };
    const rootCatalog = buildCatalog(root, {
      content, previous, storage, algorithm: o.algorithm, revision, ttl: o.ttl, now: nowSec, workDir, catalogFiles: 0,
      onBuilt: (c) => (c.written ? catalogStats.written++ : catalogStats.reused++),
    });

    // Certificate, history with the new tag, reflog.
    const certificate = makeObject(new TextEncoder().encode(keys.certificatePem), o.algorithm);
    storage.put(certificate, "X");
    recordPublish(historyFile, {
      tagName: tag, rootHash: rootCatalog.hash, size: rootCatalog.size, revision, timestamp: nowSec,
      description: o.tag ? `tagged '${o.tag}'` : "published by cvm",
      previousHistory: previousRepo?.manifest.history ? toHex(previousRepo.manifest.history) : undefined,
    });
    const history = makeObject(readFileSync(historyFile), o.algorithm);
    storage.put(history, "H");

    const reflogFile = join(workDir, "reflog.sqlite");
    const storedReflog = join(o.storage, ".cvmfsreflog");
    if (existsSync(storedReflog)) writeFileAtomic(reflogFile, readFileSync(storedReflog), 0o600);
    const reflog = openReflog(reflogFile, o.fqrn);
    reflog.addRef(toHex(rootCatalog.hash), "catalog", nowSec);
    reflog.addRef(toHex(certificate.hash), "certificate", nowSec);
    reflog.addRef(toHex(history.hash), "history", nowSec);
    reflog.close();
    const reflogBytes = readFileSync(reflogFile);
    storage.writeRootFile(".cvmfsreflog", reflogBytes);

    // The manifest goes last: from this rename on, readers see the new revision.
    storage.syncObjects();
    storage.writeRootFile(".cvmfspublished", signManifest({
      rootHash: rootCatalog.hash, rootCatalogSize: rootCatalog.size, ttl: o.ttl, revision,
      garbageCollectable: false, alternativePaths: false, fqrn: o.fqrn,
      certificate: certificate.hash, history: history.hash, publishedAt: nowSec,
      reflog: hashBytes(o.algorithm, reflogBytes),
    }, keys.repositoryKey));

    return {
      revision, rootHash: rootCatalog.hash, tag, entries: count,
      filesIngested: toIngest.length, filesReused: files.length - toIngest.length,
      newObjects, storedBytes, catalogsWritten: catalogStats.written, catalogsReused: catalogStats.reused,
    };
  } finally {
    previousRepo?.close();
    rmSync(workDir, { recursive: true, force: true });
    release();
  }
}
