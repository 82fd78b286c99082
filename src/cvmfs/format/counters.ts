import { COUNTER_NAMES, zeroCounters, type Chunk, type Counters, type Dirent, type NestedCatalogRef } from "./dirent";

/**
 * Catalog statistics (spec §2.4). `self_*` counts a catalog's own rows;
 * `subtree_*` counts only what lies in the nested catalogs below it:
 * subtree(C) = Σ over C's direct nested catalogs N of (self(N) + subtree(N)),
 * so a leaf catalog has every subtree_* = 0. Upstream's checker
 * (cvmfs_swissknife check) refuses any other numbers.
 */

/** Adds one catalog row to `c`, as upstream's DeltaCounters counts it. */
export function countEntry(c: Counters, d: Dirent): void {
  if (d.kind === "dir") c.dir++;
  else if (d.kind === "symlink") c.symlink++;
  else if (d.kind === "special") c.special++;
  else {
    c.regular++;
    c.file_size += d.size;
    if (d.chunked) { c.chunked++; c.chunked_size += d.size; }
    if (d.external) { c.external++; c.external_file_size += d.size; }
  }
  if (d.xattrs?.size) c.xattr++;
}

/** What a catalog reader offers that the count needs (CatalogReader has it). */
export interface CountableCatalog {
  entries(): Iterable<Dirent>;
  chunks(path: string): Chunk[];
  nested(): NestedCatalogRef[];
}

/** A catalog's self_* counters recounted from its rows, chunks and nested catalog list. */
export function recountSelf(catalog: CountableCatalog): Counters {
  const c = zeroCounters();
  for (const d of catalog.entries()) {
    countEntry(c, d);
    if (d.kind === "file" && d.chunked) c.chunks += catalog.chunks(d.path).length;
  }
  c.nested = catalog.nested().length;
  return c;
}

export function addCounters(into: Counters, more: Counters): Counters {
  for (const n of COUNTER_NAMES) into[n] += more[n];
  return into;
}

/** The stored self_* and subtree_* of a statistics table (missing rows read as 0). */
export function storedCounters(statistics: Record<string, number>): { self: Counters; subtree: Counters } {
  const self = zeroCounters(), subtree = zeroCounters();
  for (const n of COUNTER_NAMES) {
    self[n] = statistics[`self_${n}`] ?? 0;
    subtree[n] = statistics[`subtree_${n}`] ?? 0;
  }
  return { self, subtree };
}

/** What a catalog contributes to its parent's subtree_*: its own rows and everything below it. */
export const totalOf = (c: { self: Counters; subtree: Counters }): Counters => addCounters(addCounters(zeroCounters(), c.self), c.subtree);

export const sameCounters = (a: Counters, b: Counters): boolean => COUNTER_NAMES.every((n) => a[n] === b[n]);

/** subtree_* as a catalog must store it, from the stored counters of its direct nested catalogs. */
export const subtreeOf = (nested: { self: Counters; subtree: Counters }[]): Counters =>
  nested.reduce((sum, n) => addCounters(sum, totalOf(n)), zeroCounters());

/** Differences in upstream's wording: `subtree_dir (expected: 0 / in catalog: 1)`. */
export function counterMismatches(prefix: "self" | "subtree", expected: Counters, stored: Counters): string[] {
  return COUNTER_NAMES.filter((n) => expected[n] !== stored[n]).map((n) => `${prefix}_${n} (expected: ${expected[n]} / in catalog: ${stored[n]})`);
}
