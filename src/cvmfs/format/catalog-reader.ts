import { Database, type Statement } from "bun:sqlite";
import { algorithmOf, decodeHardlinks, DEFAULT_TTL, FLAG, isCompressed, kindOf } from "./catalog-schema";
import type { Chunk, Dirent, NestedCatalogRef } from "./dirent";
import { RepositoryError } from "../errors";
import { fromDigest, parseHex, type ContentHash, type HashAlgorithm } from "./hash";
import { md5Pair } from "./md5path";
import { parseXattrs } from "./xattr";

type Row = Record<string, unknown>;

/** Seconds that still make a valid JavaScript Date (±100,000,000 days): anything beyond is hostile. */
const MAX_SECONDS = 8.64e12 - 86400;

/**
 * A decompressed file catalog (SQLite), read-only. Reads schema 2.5 at every
 * revision (columns added later are simply absent in older catalogs) and 2.4.
 * Every value is checked as it is read: a hostile catalog gets a one-line
 * error naming the catalog and the path, never a wrong answer.
 */
export class CatalogReader {
  readonly properties: Map<string, string>;
  private readonly byPath: Statement;
  private readonly byParent: Statement;
  private readonly chunkRows: Statement;
  private readonly flagsOf: Statement;
  private nestedCache?: NestedCatalogRef[];

  private constructor(private readonly db: Database, private readonly what: string) {
    this.properties = new Map((db.query("SELECT key, value FROM properties").all() as Row[]).map((r) => [String(r.key), String(r.value)]));
    const schema = Number(this.properties.get("schema") ?? "0");
    if (!(schema >= 2.4 && schema < 3)) throw new RepositoryError(`${what}: catalog schema ${this.properties.get("schema") ?? "(none)"} is not supported (cvm reads schema 2.4 and 2.5)`);
    const have = new Set((db.query("PRAGMA table_info(catalog)").all() as Row[]).map((r) => String(r.name)));
    const col = (name: string) => (have.has(name) ? name : `NULL AS ${name}`);
    const columns = ["hardlinks", "hash", "size", "mode", "mtime", "mtimens", "flags", "name", "symlink", "uid", "gid", "xattr"].map(col).join(", ");
    // Prepared now, so a missing table or column is refused when the catalog is opened.
    this.byPath = db.query(`SELECT ${columns} FROM catalog WHERE md5path_1 = ? AND md5path_2 = ?`);
    this.byParent = db.query(`SELECT ${columns} FROM catalog WHERE parent_1 = ? AND parent_2 = ?`);
    this.flagsOf = db.query("SELECT flags FROM catalog WHERE md5path_1 = ? AND md5path_2 = ?");
    this.chunkRows = db.query("SELECT offset, size, hash FROM chunks WHERE md5path_1 = ? AND md5path_2 = ? ORDER BY offset ASC");
  }

  static open(file: string, what: string): CatalogReader {
    let db: Database | undefined;
    try {
      db = new Database(file, { readonly: true, safeIntegers: true });
      return new CatalogReader(db, what);
    } catch (err) {
      db?.close();
      if (err instanceof RepositoryError) throw err;
      throw new RepositoryError(`${what}: not a readable catalog (${(err as Error).message})`);
    }
  }

  get schemaRevision(): number { return Number(this.properties.get("schema_revision") ?? "0"); }
  get ttl(): number { const v = Number(this.properties.get("TTL")); return Number.isSafeInteger(v) && v >= 0 ? v : DEFAULT_TTL; }
  /** "" for the root catalog, "/a/b" for a catalog nested at /a/b. */
  get rootPrefix(): string { const p = this.properties.get("root_prefix") ?? ""; return p === "/" ? "" : p.replace(/\/+$/, ""); }

  /** Runs a query; SQLite's own errors (corrupt pages, wrong types) become this catalog's error. */
  private sql<T>(path: string, f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (err instanceof RepositoryError) throw err;
      throw new RepositoryError(`${this.what}: ${path || "/"}: ${(err as Error).message}`);
    }
  }

  private fail(path: string, why: string): never {
    throw new RepositoryError(`${this.what}: ${path || "/"}: ${why}`);
  }

  /** An integer column: absent/NULL → `fallback`; text, fractions and values beyond `max` are refused. */
  private int(r: Row, column: string, path: string, o: { fallback?: number; min?: number; max?: number } = {}): number {
    const v = r[column];
    if (v === null || v === undefined) {
      if (o.fallback === undefined) this.fail(path, `no ${column}`);
      return o.fallback;
    }
    const n = typeof v === "bigint" ? Number(v) : typeof v === "number" && Number.isInteger(v) ? v : NaN;
    if (!Number.isSafeInteger(n) || n < (o.min ?? Number.MIN_SAFE_INTEGER) || n > (o.max ?? Number.MAX_SAFE_INTEGER))
      this.fail(path, `bad ${column} ${JSON.stringify(typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? "(blob)" : v)?.slice(0, 40)}`);
    return n;
  }

  private digest(algorithm: HashAlgorithm, v: unknown, path: string, what: string): ContentHash {
    if (!(v instanceof Uint8Array) || v.length !== 20) this.fail(path, `${what} is not a 20-byte ${algorithm} digest`);
    return fromDigest(algorithm, new Uint8Array(v));
  }

  private toDirent(r: Row, path: string): Dirent {
    const flags = this.int(r, "flags", path, { min: 0, max: 0xffffffff });
    const kind = kindOf(flags);
    const name = r.name;
    if (typeof name !== "string") this.fail(path, "the name is not text");
    const links = decodeHardlinks(this.int(r, "hardlinks", path, { fallback: 1, min: 0 }));
    const algorithm = algorithmOf(flags);
    let xattrs: Map<string, Uint8Array> | undefined;
    if (r.xattr) {
      if (!(r.xattr instanceof Uint8Array)) this.fail(path, "the xattr column is not a blob");
      try { xattrs = parseXattrs(r.xattr); } catch (err) { this.fail(path, (err as Error).message); }
    }
    const hasHash = r.hash instanceof Uint8Array && r.hash.length > 0;
    const hash = kind === "file" && hasHash ? this.digest(algorithm, r.hash, path, "the content hash") : undefined;
    let symlink: string | undefined;
    if (kind === "symlink") {
      symlink = r.symlink === null || r.symlink === undefined ? "" : String(r.symlink);
      if (symlink.includes("\0")) this.fail(path, "the symlink target contains a NUL byte");
    }
    const mtimens = r.mtimens === null || r.mtimens === undefined ? undefined : this.int(r, "mtimens", path, { min: -999_999_999, max: 999_999_999 });
    return {
      path, name, kind, mode: this.int(r, "mode", path, { fallback: 0, min: 0, max: 0xffffffff }),
      size: this.int(r, "size", path, { fallback: 0, min: 0 }),
      mtime: this.int(r, "mtime", path, { fallback: 0, min: -MAX_SECONDS, max: MAX_SECONDS }),
      mtimeNs: mtimens,
      uid: this.int(r, "uid", path, { fallback: 0, min: 0, max: 0xffffffff }), gid: this.int(r, "gid", path, { fallback: 0, min: 0, max: 0xffffffff }),
      linkcount: links.linkcount, hardlinkGroup: links.group,
      hash, compressed: isCompressed(flags), symlink,
      chunked: !!(flags & FLAG.chunked), nestedMountpoint: !!(flags & FLAG.nestedMountpoint), nestedRoot: !!(flags & FLAG.nestedRoot),
      hidden: !!(flags & FLAG.hidden), external: !!(flags & FLAG.external), directIo: !!(flags & FLAG.directIo), xattrs,
    };
  }

  lookup(path: string): Dirent | undefined {
    const r = this.sql(path, () => this.byPath.get(...md5Pair(path)) as Row | null);
    if (!r) return undefined;
    const d = this.toDirent(r, path);
    const expected = path.slice(path.lastIndexOf("/") + 1);
    if (d.name !== expected) this.fail(path, `the entry is named '${d.name.slice(0, 60)}', not '${expected}'`);
    return d;
  }

  /** Children of a directory by name; hidden ones (such as /.cvmfs) only when asked. */
  list(path: string, includeHidden = false): Dirent[] {
    const rows = this.sql(path, () => this.byParent.all(...md5Pair(path)) as Row[]);
    const names = new Set<string>();
    const out: Dirent[] = [];
    for (const r of rows) {
      const name = typeof r.name === "string" ? r.name : "";
      if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0"))
        this.fail(path, `an entry has the unsafe name ${JSON.stringify(name.slice(0, 60))}`);
      if (names.has(name)) this.fail(path, `two entries are named ${JSON.stringify(name.slice(0, 60))}`);
      names.add(name);
      const d = this.toDirent(r, `${path}/${name}`);
      if (includeHidden || !d.hidden) out.push(d);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** A chunked file's pieces by offset; their algorithm is the one in the file's flags. */
  chunks(path: string): Chunk[] {
    const flags = this.sql(path, () => this.flagsOf.get(...md5Pair(path)) as Row | null);
    const algorithm = algorithmOf(flags ? this.int(flags, "flags", path, { min: 0, max: 0xffffffff }) : 0);
    return this.sql(path, () => this.chunkRows.all(...md5Pair(path)) as Row[]).map((r) => ({
      offset: this.int(r, "offset", path, { min: 0 }), size: this.int(r, "size", path, { min: 0 }),
      hash: this.digest(algorithm, r.hash, path, "a chunk hash"),
    }));
  }

  /**
   * The nested catalogs this catalog names. Each must lie strictly below
   * `mountpoint` (this catalog's own path), appear once, and not contain
   * another: a catalog names only its direct children.
   */
  nested(mountpoint = this.rootPrefix): NestedCatalogRef[] {
    if (this.nestedCache) return this.nestedCache;
    const hasSize = this.sql("", () => (this.db.query("PRAGMA table_info(nested_catalogs)").all() as Row[]).some((r) => r.name === "size"));
    const rows = this.sql("", () => this.db.query(`SELECT path, sha1${hasSize ? ", size" : ""} FROM nested_catalogs`).all() as Row[]);
    const refs = rows.map((r) => {
      const path = String(r.path);
      const parts = path.split("/");
      if (parts[0] !== "" || parts.length < 2 || parts.slice(1).some((p) => p === "" || p === "." || p === ".." || p.includes("\0")))
        this.fail(mountpoint, `nested catalog path ${JSON.stringify(path.slice(0, 80))} is not a clean absolute path`);
      if (!path.startsWith(mountpoint + "/")) this.fail(mountpoint, `nested catalog ${path.slice(0, 80)} does not lie below ${mountpoint || "/"}`);
      let hash: ContentHash;
      try { hash = parseHex(String(r.sha1)); } catch { this.fail(path, `nested catalog has a bad hash '${String(r.sha1).slice(0, 60)}'`); }
      return { path, hash, size: hasSize ? this.int(r, "size", path, { fallback: 0, min: 0 }) : 0 };
    });
    const paths = refs.map((r) => r.path).sort();
    for (let i = 1; i < paths.length; i++) {
      if (paths[i] === paths[i - 1]) this.fail(paths[i], "nested catalog listed twice");
      if (paths[i].startsWith(paths[i - 1] + "/")) this.fail(paths[i], `nested catalog inside another nested catalog (${paths[i - 1]}) of the same parent`);
    }
    this.nestedCache = refs;
    return refs;
  }

  /** The statistics counters (empty for catalogs older than the table). */
  statistics(): Record<string, number> {
    const exists = this.sql("", () => this.db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'statistics'").get());
    if (!exists) return {};
    return Object.fromEntries(this.sql("", () => this.db.query("SELECT counter, value FROM statistics").all() as Row[])
      .map((r) => [String(r.counter), this.int(r, "value", `statistics ${String(r.counter)}`, { fallback: 0 })]));
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
