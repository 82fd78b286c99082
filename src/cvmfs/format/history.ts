import { Database } from "bun:sqlite";
import { parseHex, toHex, type ContentHash } from "./hash";
import { RepositoryError } from "../errors";
import { MAX_TIMESTAMP } from "./manifest";

/** The tag database (H object): schema 1.0 revision 3, as cvmfs_server writes it (spec §1.6.2). */
const DDL = [
  "CREATE TABLE IF NOT EXISTS properties (key TEXT, value TEXT, CONSTRAINT pk_properties PRIMARY KEY (key))",
  "CREATE TABLE IF NOT EXISTS branches (branch TEXT, parent TEXT, initial_revision INTEGER, CONSTRAINT pk_branch PRIMARY KEY (branch), FOREIGN KEY (parent) REFERENCES branches (branch), CHECK ((branch <> '') OR (parent IS NULL)), CHECK ((branch = '') OR (parent IS NOT NULL)))",
  "CREATE TABLE IF NOT EXISTS tags (name TEXT, hash TEXT, revision INTEGER, timestamp INTEGER, channel INTEGER, description TEXT, size INTEGER, branch TEXT, CONSTRAINT pk_tags PRIMARY KEY (name), FOREIGN KEY (branch) REFERENCES branches (branch))",
  "CREATE TABLE IF NOT EXISTS recycle_bin (hash TEXT, flags INTEGER, CONSTRAINT pk_hash PRIMARY KEY (hash))",
];

export interface Tag { name: string; hash: ContentHash; revision: number; timestamp: number; channel: number; description: string; size: number; }

export function createHistory(file: string, o: { fqrn: string }): void {
  const db = new Database(file, { create: true });
  try {
    for (const d of DDL) db.exec(d);
    db.run("INSERT OR IGNORE INTO branches (branch, parent, initial_revision) VALUES ('', NULL, 0)");
    for (const [k, v] of [["schema", "1.0"], ["schema_revision", "3"], ["fqrn", o.fqrn]]) db.run("INSERT OR REPLACE INTO properties (key, value) VALUES (?, ?)", [k, v]);
  } finally {
    db.close();
  }
}

/**
 * Records a publish as cvmfs_server tag_edit does: the new tag, `trunk-previous`
 * moved to where `trunk` was, `trunk` set to the new revision.
 */
export function recordPublish(file: string, p: { tagName: string; rootHash: ContentHash; size: number; revision: number; timestamp: number; description: string; previousHistory?: string }): void {
  const db = new Database(file);
  try {
    db.exec("BEGIN");
    const put = db.prepare("INSERT OR REPLACE INTO tags (name, hash, revision, timestamp, channel, description, size, branch) VALUES (?, ?, ?, ?, 0, ?, ?, '')");
    const trunk = db.query("SELECT hash, revision, timestamp, description, size FROM tags WHERE name = 'trunk'").get() as Record<string, unknown> | null;
    if (trunk) put.run("trunk-previous", String(trunk.hash), Number(trunk.revision), Number(trunk.timestamp), "default undo target", Number(trunk.size));
    const hex = toHex(p.rootHash);
    if (p.tagName !== "trunk" && p.tagName !== "trunk-previous") put.run(p.tagName, hex, p.revision, p.timestamp, p.description, p.size);
    put.run("trunk", hex, p.revision, p.timestamp, "current HEAD", p.size);
    if (p.previousHistory) db.run("INSERT OR REPLACE INTO properties (key, value) VALUES ('previous_revision', ?)", [p.previousHistory]);
    db.exec("COMMIT");
  } finally {
    db.close();
  }
}

export function readTags(file: string): Tag[] {
  let db: Database | undefined;
  try {
    db = new Database(file, { readonly: true });
    const rows = db.query("SELECT name, hash, revision, timestamp, channel, description, size FROM tags").all() as Record<string, unknown>[];
    return rows.map((r) => {
      const name = String(r.name);
      const int = (column: string, fallback?: number) => {
        const v = r[column] ?? fallback;
        if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || (column === "timestamp" && v > MAX_TIMESTAMP))
          throw new RepositoryError(`history database: tag '${name.slice(0, 60)}' has a bad ${column} ${JSON.stringify(String(r[column])).slice(0, 40)}`);
        return v;
      };
      let hash: ContentHash;
      try { hash = parseHex(String(r.hash)); } catch { throw new RepositoryError(`history database: tag '${name.slice(0, 60)}' has a bad hash '${String(r.hash).slice(0, 60)}'`); }
      return { name, hash, revision: int("revision"), timestamp: int("timestamp"), channel: int("channel", 0), description: String(r.description ?? ""), size: int("size", 0) };
    });
  } catch (err) {
    if (err instanceof RepositoryError) throw err;
    throw new RepositoryError(`history database: not readable (${(err as Error).message})`);
  } finally {
    db?.close();
  }
}
