import { Database } from "bun:sqlite";
import { RepositoryError } from "../errors";

/** .cvmfsreflog: every root object ever referenced, for garbage collection (spec §1.6.1). Stored uncompressed. */
export type RefType = "catalog" | "certificate" | "history" | "metainfo";
const TYPE_CODE: Record<RefType, number> = { catalog: 0, certificate: 1, history: 2, metainfo: 3 };
const TYPE_NAME = Object.fromEntries(Object.entries(TYPE_CODE).map(([k, v]) => [v, k])) as Record<number, RefType>;

export interface Reflog { addRef(hashHex: string, type: RefType, timestamp: number): void; close(): void; }
export interface Ref { hash: string; type: RefType; }

export function openReflog(file: string, fqrn: string): Reflog {
  const db = new Database(file, { create: true });
  db.exec("CREATE TABLE IF NOT EXISTS properties (key TEXT, value TEXT, CONSTRAINT pk_properties PRIMARY KEY (key))");
  db.exec("CREATE TABLE IF NOT EXISTS refs (hash TEXT, type INTEGER, timestamp INTEGER, CONSTRAINT pk_refs PRIMARY KEY (hash))");
  for (const [k, v] of [["schema", "1.0"], ["schema_revision", "0"], ["fqrn", fqrn]]) db.run("INSERT OR IGNORE INTO properties (key, value) VALUES (?, ?)", [k, v]);
  return {
    addRef: (hash, type, timestamp) => void db.run("INSERT OR IGNORE INTO refs (hash, type, timestamp) VALUES (?, ?, ?)", [hash, TYPE_CODE[type], timestamp]),
    close: () => db.close(),
  };
}

/** The references of a reflog file, read-only; a type this code does not know is refused (its objects could not be kept). */
export function readRefs(file: string): Ref[] {
  let db: Database | undefined;
  try {
    db = new Database(file, { readonly: true });
    return (db.query("SELECT hash, type FROM refs").all() as Record<string, unknown>[]).map((r) => {
      const type = TYPE_NAME[Number(r.type)];
      if (!type) throw new RepositoryError(`${file}: reference ${String(r.hash).slice(0, 60)} has an unknown type ${String(r.type).slice(0, 20)}`);
      return { hash: String(r.hash), type };
    });
  } catch (err) {
    if (err instanceof RepositoryError) throw err;
    throw new RepositoryError(`${file}: not a readable reflog (${(err as Error).message})`);
  } finally {
    db?.close();
  }
}
