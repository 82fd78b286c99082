import { addCounters, recountSelf, sameCounters, storedCounters, totalOf } from "../format/counters";
import { COUNTER_NAMES, zeroCounters, type Counters, type Dirent } from "../format/dirent";
import { RepositoryError } from "../errors";
import { objectPath, toHex, type ContentHash } from "../format/hash";
import { fetchObject, fetchPiece, filePieces, type Attached, type Piece, type Repository } from "./repository";

export interface VerifyReport {
  revisions: number[];
  catalogs: number;
  objects: number;        // distinct objects checked (content, chunks, catalogs, certificate, history)
  bytes: number;          // their uncompressed size
  failures: string[];     // one line each: the object or entry and what is wrong
}

/**
 * Checks everything a reader relies on, for the current revision (or every
 * revision named in the history, with `all`): each catalog's structure, each
 * file's chunk layout, and each object's presence, hash, compression and
 * inflated size — exactly what `cvm fs get` checks, so a repository that
 * verifies can be read. Objects shared between revisions are checked once.
 */
export async function verifyRepository(repo: Repository, opts: { all?: boolean; onProgress?: (objects: number) => void } = {}): Promise<VerifyReport> {
  const report: VerifyReport = { revisions: [], catalogs: 0, objects: 0, bytes: 0, failures: [] };
  const seen = new Set<string>();
  const attempt = async (f: () => Promise<number>) => {
    try {
      report.bytes += await f();
      report.objects++;
      opts.onProgress?.(report.objects);
    } catch (err) {
      if (!(err instanceof RepositoryError)) throw err;
      report.failures.push(err.message);
    }
  };
  const checkFixed = (hash: ContentHash, suffix: "X" | "H" | "M", what: string) =>
    attempt(async () => (await fetchObject(repo.source, hash, suffix, what)).length);
  const checkPiece = async (d: Dirent, p: Piece) => {
    const key = `${objectPath(p.hash, p.suffix)} ${p.size} ${d.compressed}`; // same object, same promise: checked once
    if (seen.has(key)) return;
    seen.add(key);
    await attempt(async () => (await fetchPiece(repo.source, d, p)).length);
  };

  const m = repo.manifest;
  if (m.certificate) await checkFixed(m.certificate, "X", "certificate");
  if (m.history) await checkFixed(m.history, "H", "history database");
  if (m.metainfo) await checkFixed(m.metainfo, "M", "meta-info");

  const roots: { revision: number; hash: ContentHash }[] = [{ revision: m.revision, hash: m.rootHash }];
  if (opts.all)
    for (const t of await repo.tags()) if (!roots.some((r) => toHex(r.hash) === toHex(t.hash))) roots.push({ revision: t.revision, hash: t.hash });

  for (const root of roots) {
    report.revisions.push(root.revision);
    const view = root.hash === m.rootHash ? repo : await repo.atRoot(root.hash);
    const counted: CountedCatalog[] = [];
    try {
      for await (const cat of view.catalogs()) {
        const catKey = objectPath(cat.hash, "C");
        if (!seen.has(catKey)) { seen.add(catKey); report.objects++; report.catalogs++; } // verified when attached
        report.failures.push(...catalogProblems(cat));
        counted.push(countCatalog(cat));
        for (const d of cat.reader.entries()) {
          if (d.kind !== "file" || d.external) continue;
          let pieces: Piece[];
          try {
            pieces = filePieces(d, d.chunked ? cat.reader.chunks(d.path) : []);
          } catch (err) {
            if (!(err instanceof RepositoryError)) throw err;
            report.failures.push(err.message);
            continue;
          }
          for (const p of pieces) await checkPiece(d, p);
        }
      }
      report.failures.push(...counterProblems(counted));
    } catch (err) {
      if (!(err instanceof RepositoryError)) throw err;
      report.failures.push(err.message); // a catalog that cannot be loaded hides everything below it
    } finally {
      if (view !== repo) view.close();
    }
  }
  return report;
}

/**
 * What a catalog says of itself must agree: every nested catalog it names has
 * a mountpoint directory here and every mountpoint directory is named, and a
 * hardlink group's link count is the number of its members.
 */
function catalogProblems(cat: Attached): string[] {
  const problems: string[] = [];
  const where = `catalog ${cat.mountpoint || "/"}`;
  const refs = new Set(cat.reader.nested(cat.mountpoint).map((n) => n.path));
  const mountpoints = new Set<string>();
  const groups = new Map<string, { count: number; linkcount: number; path: string }>();
  for (const d of cat.reader.entries()) {
    if (d.kind === "dir" && d.nestedMountpoint) mountpoints.add(d.path);
    if (d.kind === "file" && d.hardlinkGroup) {
      const key = `${d.path.slice(0, d.path.lastIndexOf("/"))}\0${d.hardlinkGroup}`;
      const g = groups.get(key) ?? { count: 0, linkcount: d.linkcount, path: d.path };
      g.count++;
      if (d.linkcount !== g.linkcount) problems.push(`${where}: ${d.path}: link count ${d.linkcount}, but ${g.path} of the same hardlink group says ${g.linkcount}`);
      groups.set(key, g);
    }
  }
  for (const r of refs) if (!mountpoints.has(r)) problems.push(`${where}: nested catalog ${r} has no mountpoint directory in this catalog`);
  for (const p of mountpoints) if (!refs.has(p)) problems.push(`${where}: ${p} is marked as a nested catalog mountpoint, but no nested catalog is listed for it`);
  for (const g of groups.values())
    if (g.count !== g.linkcount) problems.push(`${where}: ${g.path}: hardlink group of ${g.count} entr${g.count === 1 ? "y" : "ies"} with link count ${g.linkcount}`);
  return problems;
}

interface CountedCatalog { mountpoint: string; nested: string[]; self: Counters; stored?: { self: Counters; subtree: Counters }; }

/** Catalogs older than the statistics table have nothing stored to compare. */
function countCatalog(cat: Attached): CountedCatalog {
  const statistics = cat.reader.statistics();
  return {
    mountpoint: cat.mountpoint, nested: cat.reader.nested(cat.mountpoint).map((n) => n.path),
    self: recountSelf(cat.reader), stored: Object.keys(statistics).length ? storedCounters(statistics) : undefined,
  };
}

/**
 * The statistics counters, recounted (spec §2.4): self_* from each catalog's
 * own rows, subtree_* as the sum over its direct nested catalogs of their
 * self_* and subtree_*, as upstream's checker computes them.
 */
function counterProblems(catalogs: CountedCatalog[]): string[] {
  const problems: string[] = [];
  const byMountpoint = new Map(catalogs.map((c) => [c.mountpoint, c]));
  const subtree = new Map<string, Counters>();
  const mismatch = (c: CountedCatalog, kind: string, expected: Counters, stored: Counters) => {
    for (const n of COUNTER_NAMES)
      if (expected[n] !== stored[n]) problems.push(`catalog ${c.mountpoint || "/"}: statistics counter ${kind}_${n} is ${stored[n]}, expected ${expected[n]}`);
  };
  for (const c of [...catalogs].reverse()) { // children before parents
    const below = zeroCounters();
    for (const n of c.nested) {
      const child = byMountpoint.get(n);
      if (child) addCounters(below, totalOf({ self: child.self, subtree: subtree.get(n)! }));
    }
    subtree.set(c.mountpoint, below);
    if (!c.stored) continue;
    if (!sameCounters(c.self, c.stored.self)) mismatch(c, "self", c.self, c.stored.self);
    if (!sameCounters(below, c.stored.subtree)) mismatch(c, "subtree", below, c.stored.subtree);
  }
  return problems;
}
