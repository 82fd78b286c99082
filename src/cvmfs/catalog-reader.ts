import { Database, type Statement } from "bun:sqlite";
import { algorithmOf, decodeHardlinks, DEFAULT_TTL, FLAG, isCompressed, kindOf } from "./catalog-schema";
import type { Chunk, Dirent, NestedCatalogRef } from "./dirent";
import { RepositoryError } from "./errors";
import { fromDigest, parseHex } from "./hash";
import { md5Pair } from "./md5path";
import { parseXattrs } from "./xattr";

type Row = Record<string, unknown>;
const num = (v: unknown) => (v === null || v === undefined ? 0 : Number(v));

/**
 * A decompressed file catalog (SQLite), read-only. Reads schema 2.5 at every
 * revision (columns added later are simply absent in older catalogs) and 2.4.
 */
export class CatalogReader {
  readonly properties: Map<string, string>;
  readonly schema: number;
  readonly schemaRevision: number;
  private readonly byPath: Statement;
  private readonly byParent: Statement;
  private readonly chunkRows: Statement;
  private nestedCache?: NestedCatalogRef[];

  private constructor(private readonly db: Database, private readonly what: string) {
    this.properties = new Map((db.query("SELECT key, value FROM properties").all() as Row[]).map((r) => [String(r.key), String(r.value)]));
    this.schema = Number(this.properties.get("schema") ?? "0");
    this.schemaRevision = Number(this.properties.get("schema_revision") ?? "0");
    if (!(this.schema >= 2.4 && this.schema < 3)) throw new RepositoryError(`${what}: catalog schema ${this.properties.get("schema") ?? "(none)"} is not supported (cvm reads schema 2.4 and 2.5)`);
    const have = new Set((db.query("PRAGMA table_info(catalog)").all() as Row[]).map((r) => String(r.name)));
    const col = (name: string) => (have.has(name) ? name : `NULL AS ${name}`);
    const columns = ["hardlinks", "hash", "size", "mode", "mtime", "mtimens", "flags", "name", "symlink", "uid", "gid", "xattr"].map(col).join(", ");
    this.byPath = db.query(`SELECT ${columns} FROM catalog WHERE md5path_1 = ? AND md5path_2 = ?`);
    this.byParent = db.query(`SELECT ${columns} FROM catalog WHERE parent_1 = ? AND parent_2 = ?`);
    this.chunkRows = db.query("SELECT offset, size, hash FROM chunks WHERE md5path_1 = ? AND md5path_2 = ? ORDER BY offset ASC");
  }

  static open(file: string, what: string): CatalogReader {
    let db: Database;
    try {
      db = new Database(file, { readonly: true, safeIntegers: true });
      return new CatalogReader(db, what);
    } catch (err) {
      if (err instanceof RepositoryError) throw err;
      throw new RepositoryError(`${what}: not a readable catalog (${(err as Error).message})`);
    }
  }

  get revision(): number { return Number(this.properties.get("revision") ?? "0"); }
  get ttl(): number { return Number(this.properties.get("TTL") ?? DEFAULT_TTL); }
  get previousRevision(): string | undefined { return this.properties.get("previous_revision"); }
  get lastModified(): number | undefined { const v = this.properties.get("last_modified"); return v === undefined ? undefined : Number(v); }
  /** "" for the root catalog, "/a/b" for a catalog nested at /a/b. */
  get rootPrefix(): string { const p = this.properties.get("root_prefix") ?? ""; return p === "/" ? "" : p.replace(/\/+$/, ""); }

  private toDirent(r: Row, path: string): Dirent {
    const flags = num(r.flags);
    const kind = kindOf(flags);
    const links = decodeHardlinks(r.hardlinks as bigint | null);
    const algorithm = algorithmOf(flags);
    let xattrs: Map<string, Uint8Array> | undefined;
    if (r.xattr) {
      try { xattrs = parseXattrs(r.xattr as Uint8Array); } catch (err) { throw new RepositoryError(`${this.what}: ${path}: ${(err as Error).message}`); }
    }
    const hash = r.hash && (r.hash as Uint8Array).length ? fromDigest(algorithm, new Uint8Array(r.hash as Uint8Array)) : undefined;
    return {
      path, name: String(r.name ?? ""), kind, mode: num(r.mode), size: num(r.size), mtime: num(r.mtime),
      mtimeNs: r.mtimens === null || r.mtimens === undefined ? undefined : Number(r.mtimens),
      uid: num(r.uid), gid: num(r.gid), linkcount: links.linkcount, hardlinkGroup: links.group,
      hash: kind === "file" ? hash : undefined, compressed: isCompressed(flags),
      symlink: kind === "symlink" ? String(r.symlink ?? "") : undefined,
      chunked: !!(flags & FLAG.chunked), nestedMountpoint: !!(flags & FLAG.nestedMountpoint), nestedRoot: !!(flags & FLAG.nestedRoot),
      hidden: !!(flags & FLAG.hidden), external: !!(flags & FLAG.external), directIo: !!(flags & FLAG.directIo), xattrs,
    };
  }

  lookup(path: string): Dirent | undefined {
    const r = this.byPath.get(...md5Pair(path)) as Row | null;
    return r ? this.toDirent(r, path) : undefined;
  }

  /** Children of a directory by name; hidden ones (such as /.cvmfs) only when asked. */
  list(path: string, includeHidden = false): Dirent[] {
    const rows = this.byParent.all(...md5Pair(path)) as Row[];
    return rows
      .map((r) => this.toDirent(r, `${path}/${String(r.name)}`))
      .filter((d) => includeHidden || !d.hidden)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** A chunked file's pieces by offset; their algorithm is the one in the file's flags. */
  chunks(path: string): Chunk[] {
    const flags = this.db.query("SELECT flags FROM catalog WHERE md5path_1 = ? AND md5path_2 = ?").get(...md5Pair(path)) as Row | null;
    const algorithm = algorithmOf(num(flags?.flags));
    return (this.chunkRows.all(...md5Pair(path)) as Row[]).map((r) => ({
      offset: num(r.offset), size: num(r.size), hash: fromDigest(algorithm, new Uint8Array(r.hash as Uint8Array)),
    }));
  }

  nested(): NestedCatalogRef[] {
    if (!this.nestedCache) {
      const hasSize = (this.db.query("PRAGMA table_info(nested_catalogs)").all() as Row[]).some((r) => r.name === "size");
      this.nestedCache = (this.db.query(`SELECT path, sha1${hasSize ? ", size" : ""} FROM nested_catalogs`).all() as Row[]).map((r) => {
        try {
          return { path: String(r.path), hash: parseHex(String(r.sha1)), size: num(r.size) };
        } catch {
          throw new RepositoryError(`${this.what}: nested catalog ${String(r.path)} has a bad hash '${String(r.sha1)}'`);
        }
      });
    }
    return this.nestedCache;
  }

  statistics(): Record<string, number> {
    return Object.fromEntries((this.db.query("SELECT counter, value FROM statistics").all() as Row[]).map((r) => [String(r.counter), num(r.value)]));
  }

  /** Every entry of this catalog, the catalog's root first, parents before children. */
  *entries(): IterableIterator<Dirent> {
    const root = this.lookup(this.rootPrefix);
    if (!root) throw new RepositoryError(`${this.what}: no root entry for ${this.rootPrefix || "/"}`);
    yield root;
    const queue = [root.path];
    while (queue.length) {
      for (const d of this.list(queue.shift()!, true)) {
        yield d;
        if (d.kind === "dir" && !d.nestedMountpoint) queue.push(d.path);
      }
    }
  }

  close(): void {
    this.db.close();
  }
}
