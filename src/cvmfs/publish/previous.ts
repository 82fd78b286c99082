import { existsSync } from "node:fs";
import { createPublicKey } from "node:crypto";
import { join } from "node:path";
import type { CatalogReader } from "../format/catalog-reader";
import type { Dirent } from "../format/dirent";
import { Repository } from "../client/repository";
import { DirectorySource } from "../client/source";
import { daysLeft } from "../format/whitelist";
import type { PreviousCatalog } from "./catalogs";

const WHITELIST_WARN_DAYS = 7;

/** The revision being replaced: what can be reused from it. */
export interface PreviousRevision {
  repo: Repository;
  revision: number;
  catalogs: Map<string, PreviousCatalog>;                            // by mountpoint
  files: Map<string, { reader: CatalogReader; dirent: Dirent }>;     // regular files with content, by path
}

/**
 * The storage's current revision, verified as any reader would verify it
 * (this also refuses an expired whitelist), with every catalog opened;
 * undefined for a storage with no revision yet.
 */
export async function openPrevious(o: { storage: string; fqrn: string; masterPublicPem: string; now: Date }, warn: (message: string) => void): Promise<PreviousRevision | undefined> {
  if (!existsSync(join(o.storage, ".cvmfspublished"))) return undefined;
  const repo = await Repository.open({
    source: new DirectorySource(o.storage), fqrn: o.fqrn, masterKeys: [createPublicKey(o.masterPublicPem)], now: o.now, state: null,
  });
  try {
    const left = daysLeft(repo.whitelist, o.now);
    if (left < WHITELIST_WARN_DAYS)
      warn(`the whitelist of ${o.fqrn} expires in ${left.toFixed(1)} days (${repo.whitelist.expires.toISOString()}); renew it with 'cvm publish resign ${o.fqrn}'`);
    const previous: PreviousRevision = { repo, revision: repo.manifest.revision, catalogs: new Map(), files: new Map() };
    // A catalog's stored size is named by its parent (the root's by the manifest).
    const sizes = new Map<string, number>([["", repo.manifest.rootCatalogSize ?? 0]]);
    for await (const cat of repo.catalogs()) {
      previous.catalogs.set(cat.mountpoint, { reader: cat.reader, hash: cat.hash, size: sizes.get(cat.mountpoint) ?? 0 });
      for (const n of cat.reader.nested()) sizes.set(n.path, n.size);
      for (const d of cat.reader.entries()) if (d.kind === "file" && (d.hash || d.chunked)) previous.files.set(d.path, { reader: cat.reader, dirent: d });
    }
    return previous;
  } catch (err) {
    repo.close();
    throw err;
  }
}
