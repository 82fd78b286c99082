import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../sys/atomic";
import { RepositoryError } from "../errors";
import { hashBytes, toHex, type ContentHash, type HashAlgorithm } from "../format/hash";
import { createHistory, readTags, recordPublish } from "../format/history";
import { signManifest } from "../format/manifest";
import { makeObject } from "../format/object";
import { openReflog } from "../format/reflog";
import { fetchObject } from "../client/repository";
import type { BuiltCatalog } from "./catalogs";
import type { PublisherKeys } from "./keys";
import type { PreviousRevision } from "./previous";
import type { LocalStorage } from "./storage";

/** `generic-2026-11-25T02:11:50Z`, as cvmfs_server names automatic tags. */
export const genericTagName = (d: Date) => `generic-${d.toISOString().replace(/\.\d+Z$/, "Z")}`;

export interface PreparedHistory { file: string; tag: string; }

/**
 * A working copy of the history so far, and this revision's tag: an explicit
 * tag must be new; an automatic one gets the revision appended if two
 * publishes share a second. Done before any content is read, so a taken tag
 * fails fast.
 */
export async function prepareHistory(o: { workDir: string; fqrn: string; tag?: string; now: Date; revision: number }, previous: PreviousRevision | undefined): Promise<PreparedHistory> {
  const file = join(o.workDir, "history.sqlite");
  const stored = previous?.repo.manifest.history;
  if (stored) writeFileAtomic(file, await fetchObject(previous.repo.source, stored, "H", "history database"), 0o600);
  else createHistory(file, { fqrn: o.fqrn });
  const taken = new Map(readTags(file).map((t) => [t.name, t.revision]));
  if (o.tag && (taken.has(o.tag) || o.tag === "trunk" || o.tag === "trunk-previous"))
    throw new RepositoryError(`tag '${o.tag}' already exists${taken.has(o.tag) ? ` (revision ${taken.get(o.tag)})` : ""}; choose another name`);
  const generic = genericTagName(o.now);
  return { file, tag: o.tag ?? (taken.has(generic) ? `${generic}-r${o.revision}` : generic) };
}

export interface CommitInput {
  storage: LocalStorage;
  fqrn: string;
  algorithm: HashAlgorithm;
  ttl: number;
  keys: PublisherKeys;
  revision: number;
  root: BuiltCatalog;
  history: PreparedHistory;
  explicitTag: boolean;
  previousHistory?: ContentHash;
  now: number;                       // seconds
}

/**
 * Certificate, history with the new tag, reflog, and the signed manifest last:
 * from the manifest's rename on, readers see the new revision; until then the
 * previous one, and a rerun completes the work.
 */
export function commitRevision(c: CommitInput): void {
  const certificate = makeObject(new TextEncoder().encode(c.keys.certificatePem), c.algorithm);
  c.storage.put(certificate, "X");
  recordPublish(c.history.file, {
    tagName: c.history.tag, rootHash: c.root.hash, size: c.root.size, revision: c.revision, timestamp: c.now,
    description: c.explicitTag ? `tagged '${c.history.tag}'` : "published by cvm",
    previousHistory: c.previousHistory ? toHex(c.previousHistory) : undefined,
  });
  const history = makeObject(readFileSync(c.history.file), c.algorithm);
  c.storage.put(history, "H");

  // Every root object ever referenced, for garbage collection (upstream keeps the same list).
  const reflogFile = join(c.storage.workDir, "reflog.sqlite");
  const storedReflog = join(c.storage.root, ".cvmfsreflog");
  if (existsSync(storedReflog)) writeFileAtomic(reflogFile, readFileSync(storedReflog), 0o600);
  const reflog = openReflog(reflogFile, c.fqrn);
  reflog.addRef(toHex(c.root.hash), "catalog", c.now);
  reflog.addRef(toHex(certificate.hash), "certificate", c.now);
  reflog.addRef(toHex(history.hash), "history", c.now);
  reflog.close();
  const reflogBytes = readFileSync(reflogFile);
  c.storage.writeRootFile(".cvmfsreflog", reflogBytes);

  c.storage.syncObjects();
  c.storage.writeRootFile(".cvmfspublished", signManifest({
    rootHash: c.root.hash, rootCatalogSize: c.root.size, ttl: c.ttl, revision: c.revision,
    garbageCollectable: false, alternativePaths: false, fqrn: c.fqrn,
    certificate: certificate.hash, history: history.hash, publishedAt: c.now,
    reflog: hashBytes(c.algorithm, reflogBytes),
  }, c.keys.repositoryKey));
}
