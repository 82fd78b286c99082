import { RepositoryError } from "./errors";
import { objectPath, toHex, type ContentHash, type ObjectSuffix } from "./hash";
import { fetchObject, type Repository } from "./repository";

export interface VerifyReport {
  revisions: number[];
  catalogs: number;
  objects: number;        // distinct objects checked (content, chunks, catalogs, certificate, history)
  bytes: number;          // their uncompressed size
  failures: string[];     // one line each: the object and what is wrong
}

/**
 * Checks that every object the current revision references (or every
 * revision named in the history, with `all`) exists and matches its hash.
 * Objects shared between revisions are checked once.
 */
export async function verifyRepository(repo: Repository, opts: { all?: boolean; onProgress?: (objects: number) => void } = {}): Promise<VerifyReport> {
  const report: VerifyReport = { revisions: [], catalogs: 0, objects: 0, bytes: 0, failures: [] };
  const seen = new Set<string>();
  const check = async (hash: ContentHash, suffix: ObjectSuffix, what: string, compressed = true) => {
    const key = objectPath(hash, suffix);
    if (seen.has(key)) return;
    seen.add(key);
    try {
      report.bytes += (await fetchObject(repo.source, hash, suffix, what, compressed)).length;
      report.objects++;
      opts.onProgress?.(report.objects);
    } catch (err) {
      if (!(err instanceof RepositoryError)) throw err;
      report.failures.push(err.message);
    }
  };

  const m = repo.manifest;
  if (m.certificate) await check(m.certificate, "X", "certificate");
  if (m.history) await check(m.history, "H", "history database");
  if (m.metainfo) await check(m.metainfo, "M", "meta-info");

  const roots: { revision: number; hash: ContentHash }[] = [{ revision: m.revision, hash: m.rootHash }];
  if (opts.all)
    for (const t of await repo.tags()) if (!roots.some((r) => toHex(r.hash) === toHex(t.hash))) roots.push({ revision: t.revision, hash: t.hash });

  for (const root of roots) {
    report.revisions.push(root.revision);
    const view = root.hash === m.rootHash ? repo : await repo.atRoot(root.hash);
    try {
      for await (const cat of view.catalogs()) {
        const catKey = objectPath(cat.hash, "C");
        if (!seen.has(catKey)) { seen.add(catKey); report.objects++; report.catalogs++; } // verified when attached
        for (const d of cat.reader.entries()) {
          if (d.kind !== "file" || d.external) continue;
          if (d.chunked) for (const c of cat.reader.chunks(d.path)) await check(c.hash, "P", `${d.path} chunk at ${c.offset}`, d.compressed);
          else if (d.hash) await check(d.hash, "", d.path, d.compressed);
        }
      }
    } catch (err) {
      if (!(err instanceof RepositoryError)) throw err;
      report.failures.push(err.message); // a catalog that cannot be loaded hides everything below it
    } finally {
      if (view !== repo) view.close();
    }
  }
  return report;
}
