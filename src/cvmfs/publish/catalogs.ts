import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CatalogWriter } from "../format/catalog-writer";
import type { CatalogReader } from "../format/catalog-reader";
import { addCounters, countEntry, sameCounters, storedCounters, totalOf } from "../format/counters";
import { zeroCounters, type Chunk, type Counters, type Dirent, type NestedCatalogRef } from "../format/dirent";
import { toHex, type ContentHash, type HashAlgorithm } from "../format/hash";
import { makeObject } from "../format/object";
import type { LocalStorage } from "./storage";
import { hardlinkGroups, type SourceNode } from "./tree";

/** A file's published content: whole-file hash, or chunks. */
export interface FileContent { hash?: ContentHash; chunks?: Chunk[]; compressed: boolean; }

/** A catalog as it was in the previous revision, to reuse when nothing in it changed. */
export interface PreviousCatalog { reader: CatalogReader; hash: ContentHash; size: number; }

/** A catalog ready for its parent: `total` is its self_* plus subtree_*, what the parent's subtree_* adds up. */
export interface BuiltCatalog extends NestedCatalogRef { total: Counters; written: boolean; }

export interface BuildContext {
  content: Map<string, FileContent>;       // by repository path
  previous: Map<string, PreviousCatalog>;  // by mountpoint
  storage: LocalStorage;
  algorithm: HashAlgorithm;
  revision: number;
  ttl: number;
  now: number;
  workDir: string;
  catalogFiles: number;                    // temporary catalog files made so far
  onBuilt?: (c: BuiltCatalog) => void;    // each catalog once built (written or reused)
}

/** Catalog rows for one directory level: hardlink groups are per directory, as upstream publishes them. */
function direntsOf(dir: SourceNode, ctx: BuildContext, nextGroup: () => number): Dirent[] {
  const groupOf = new Map<SourceNode, { group: number; count: number }>();
  for (const members of hardlinkGroups(dir.children ?? []).values()) {
    const group = nextGroup();
    for (const m of members) groupOf.set(m, { group, count: members.length });
  }
  return (dir.children ?? []).map((c) => direntOf(c, ctx, groupOf.get(c)));
}

function direntOf(n: SourceNode, ctx: BuildContext, link?: { group: number; count: number }, flags: { nestedRoot?: boolean } = {}): Dirent {
  const content = n.kind === "file" ? ctx.content.get(n.path) : undefined;
  if (n.kind === "file" && !content) throw new Error(`no content recorded for ${n.path}`);
  return {
    path: n.path, name: n.name, kind: n.kind, mode: n.mode,
    size: n.kind === "dir" ? 4096 : n.size,
    mtime: n.mtime, mtimeNs: n.mtimeNs, uid: n.uid, gid: n.gid,
    linkcount: n.kind === "dir" ? 2 + (n.children ?? []).filter((c) => c.kind === "dir").length : link?.count ?? 1,
    hardlinkGroup: link?.group ?? 0,
    hash: content?.hash, compressed: content?.compressed ?? true, symlink: n.symlink,
    chunked: !!content?.chunks, nestedMountpoint: n.kind === "dir" && n.catalogRoot && !flags.nestedRoot && n.path !== "",
    nestedRoot: !!flags.nestedRoot, hidden: false, external: false, directIo: false, xattrs: n.xattrs,
  };
}

/** A canonical text of everything a catalog says, to tell whether it changed. */
function entryKey(d: Dirent, chunks: Chunk[] | undefined): string {
  const x = d.xattrs ? [...d.xattrs].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => k + "=" + Buffer.from(v).toString("hex")) : [];
  return JSON.stringify([d.path, d.kind, d.mode, d.size, d.mtime, d.mtimeNs ?? null, d.uid, d.gid, d.linkcount, d.hardlinkGroup,
    d.hash ? toHex(d.hash) : null, d.compressed, d.symlink ?? "", d.chunked, d.nestedMountpoint, d.nestedRoot, x,
    chunks?.map((c) => `${c.offset}:${c.size}:${toHex(c.hash)}`) ?? null]);
}

/** The previous catalog's canonical text, and its self_* recounted from its rows on the same pass. */
function readPrevious(p: PreviousCatalog): { key: string; self: Counters } {
  const rows: string[] = [];
  const self = zeroCounters();
  for (const d of p.reader.entries()) {
    const chunks = d.chunked ? p.reader.chunks(d.path) : undefined;
    rows.push(entryKey(d, chunks));
    countEntry(self, d);
    self.chunks += chunks?.length ?? 0;
  }
  const nested = p.reader.nested();
  self.nested = nested.length;
  rows.sort();
  return { key: rows.join("\n") + "\n" + nested.map((n) => `${n.path}=${toHex(n.hash)}`).sort().join("\n"), self };
}

/**
 * The previous catalog's total for its parent when nothing in it changed, or
 * undefined. Also undefined when its stored counters are not what its rows and
 * nested catalogs add up to (a catalog from an older writer that counted
 * subtree_* inclusively): such a catalog is written again rather than reused.
 */
function reusableTotal(p: PreviousCatalog, key: string, nested: BuiltCatalog[]): Counters | undefined {
  const previous = readPrevious(p);
  if (previous.key !== key) return undefined;
  const stored = storedCounters(p.reader.statistics());
  const subtree = nested.reduce((sum, n) => addCounters(sum, n.total), zeroCounters());
  if (!sameCounters(stored.self, previous.self) || !sameCounters(stored.subtree, subtree)) return undefined;
  return totalOf(stored);
}

/**
 * Builds the catalog rooted at `root` after its nested catalogs (bottom-up),
 * reusing the previous revision's catalog object when nothing in it changed.
 */
export function buildCatalog(root: SourceNode, ctx: BuildContext): BuiltCatalog {
  const entries: { dirent: Dirent; chunks?: Chunk[] }[] = [];
  const nested: BuiltCatalog[] = [];
  let group = 0;
  const nextGroup = () => ++group;
  entries.push({ dirent: direntOf(root, ctx, undefined, { nestedRoot: root.path !== "" }) });
  const queue = [root];
  while (queue.length) {
    const dir = queue.shift()!;
    for (const [i, d] of direntsOf(dir, ctx, nextGroup).entries()) {
      const node = dir.children![i];
      entries.push({ dirent: d, chunks: d.chunked ? ctx.content.get(d.path)!.chunks : undefined });
      if (node.kind !== "dir") continue;
      if (node.catalogRoot) nested.push(buildCatalog(node, ctx));
      else queue.push(node);
    }
  }

  // The root catalog is always rewritten: its revision property must equal the manifest's S.
  const previous = ctx.previous.get(root.path);
  if (previous && root.path !== "") {
    const key = entries.map((e) => entryKey(e.dirent, e.chunks)).sort().join("\n") + "\n" + nested.map((n) => `${n.path}=${toHex(n.hash)}`).sort().join("\n");
    const total = reusableTotal(previous, key, nested);
    if (total) {
      const kept = { path: root.path, hash: previous.hash, size: previous.size, total, written: false };
      ctx.onBuilt?.(kept);
      return kept;
    }
  }

  // Numbered, not named after the path: no two mountpoints can share a file (/a/b and /a_b did).
  const file = join(ctx.workDir, `catalog-${++ctx.catalogFiles}.sqlite`);
  const writer = CatalogWriter.create(file, {
    rootPrefix: root.path, revision: ctx.revision, ttl: ctx.ttl, lastModified: ctx.now,
    previousRevision: previous ? toHex(previous.hash) : undefined,
  });
  for (const e of entries) {
    writer.add(e.dirent);
    if (e.chunks) writer.addChunks(e.dirent.path, e.chunks);
  }
  for (const n of nested) writer.addNested({ path: n.path, hash: n.hash, size: n.size }, n.total);
  const total = totalOf(writer.finish());
  const bytes = readFileSync(file);
  rmSync(file); // the object holds it now; the work directory stays as small as one catalog
  const obj = makeObject(bytes, ctx.algorithm);
  ctx.storage.put(obj, "C");
  const built = { path: root.path, hash: obj.hash, size: bytes.length, total, written: true };
  ctx.onBuilt?.(built);
  return built;
}
