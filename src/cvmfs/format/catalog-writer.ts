import { Database, type Statement } from "bun:sqlite";
import { CATALOG_DDL, encodeFlags, encodeHardlinks, SCHEMA, SCHEMA_REVISION } from "./catalog-schema";
import { addCounters, countEntry } from "./counters";
import { COUNTER_NAMES, zeroCounters, type Chunk, type Counters, type Dirent, type NestedCatalogRef } from "./dirent";
import { toHex } from "./hash";
import { md5Pair, parentPath } from "./md5path";
import { serializeXattrs } from "./xattr";

export interface CatalogOptions {
  rootPrefix?: string;         // "" (or absent) for the root catalog, "/a/b" for a nested one
  revision: number;
  previousRevision?: string;   // hex of this catalog's previous version
  ttl?: number;                // written into the root catalog
  lastModified?: number;
}

/**
 * Writes a new catalog file (schema 2.5 revision 7) with every mandatory
 * statistics counter. The caller adds the catalog's root entry first, so it
 * gets rowid 1, then the rest, parents before children.
 * Counters (spec §2.4): self_* counts this catalog's rows; subtree_* only what
 * the nested catalogs below hold, so the caller passes each nested catalog's
 * total (its self_* plus its subtree_*).
 */
export class CatalogWriter {
  private readonly self = zeroCounters();
  private readonly subtree = zeroCounters();
  private readonly insertRow: Statement;
  private readonly insertChunk: Statement;
  private readonly insertNested: Statement;

  private constructor(private readonly db: Database, private readonly opts: CatalogOptions) {
    this.insertRow = db.prepare("INSERT INTO catalog (md5path_1, md5path_2, parent_1, parent_2, hardlinks, hash, size, mode, mtime, mtimens, flags, name, symlink, uid, gid, xattr) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    this.insertChunk = db.prepare("INSERT INTO chunks (md5path_1, md5path_2, offset, size, hash) VALUES (?,?,?,?,?)");
    this.insertNested = db.prepare("INSERT INTO nested_catalogs (path, sha1, size) VALUES (?,?,?)");
  }

  static create(file: string, opts: CatalogOptions): CatalogWriter {
    const db = new Database(file, { create: true, readwrite: true });
    db.exec("PRAGMA journal_mode = DELETE; PRAGMA synchronous = OFF;"); // a temp file, read back whole once closed
    db.exec("BEGIN");
    for (const ddl of CATALOG_DDL) db.exec(ddl);
    return new CatalogWriter(db, opts);
  }

  add(d: Dirent): void {
    const [p1, p2] = md5Pair(d.path);
    // The root entry of the root catalog has a null parent; a nested root keeps its real parent.
    const [q1, q2] = d.path === "" ? [0n, 0n] : md5Pair(parentPath(d.path));
    const xattr = d.xattrs?.size ? serializeXattrs(d.xattrs) : null;
    this.insertRow.run(p1, p2, q1, q2, encodeHardlinks(d.hardlinkGroup, d.linkcount), d.hash ? d.hash.digest : null,
      d.size, d.mode, d.mtime, d.mtimeNs ?? null, encodeFlags(d), d.name, d.symlink ?? "", d.uid, d.gid, xattr);
    countEntry(this.self, d);
  }

  addChunks(path: string, chunks: Chunk[]): void {
    const [p1, p2] = md5Pair(path);
    for (const ch of chunks) this.insertChunk.run(p1, p2, ch.offset, ch.size, ch.hash.digest);
    this.self.chunks += chunks.length;
  }

  /** A direct nested catalog, with its total: its own self_* plus its subtree_*. */
  addNested(ref: NestedCatalogRef, total: Counters): void {
    this.insertNested.run(ref.path, toHex(ref.hash), ref.size);
    this.self.nested++;
    addCounters(this.subtree, total);
  }

  /** Properties and statistics, then commit and close. Returns the counters written. */
  finish(): { self: Counters; subtree: Counters } {
    const props: [string, string][] = [
      ["schema", SCHEMA], ["schema_revision", String(SCHEMA_REVISION)], ["revision", String(this.opts.revision)],
      ["last_modified", String(this.opts.lastModified ?? Math.floor(Date.now() / 1000))],
    ];
    if (this.opts.previousRevision) props.push(["previous_revision", this.opts.previousRevision]);
    if (this.opts.rootPrefix) props.push(["root_prefix", this.opts.rootPrefix]);
    else if (this.opts.ttl !== undefined) props.push(["TTL", String(this.opts.ttl)]);
    const insertProp = this.db.prepare("INSERT INTO properties (key, value) VALUES (?, ?)");
    for (const [k, v] of props) insertProp.run(k, v);
    const insertStat = this.db.prepare("INSERT INTO statistics (counter, value) VALUES (?, ?)");
    for (const n of COUNTER_NAMES) {
      insertStat.run(`self_${n}`, this.self[n]);
      insertStat.run(`subtree_${n}`, this.subtree[n]);
    }
    this.db.exec("COMMIT");
    this.db.close();
    return { self: { ...this.self }, subtree: { ...this.subtree } };
  }
}
