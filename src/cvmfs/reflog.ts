import { Database } from "bun:sqlite";

/** .cvmfsreflog: every root object ever referenced, for garbage collection (spec §1.6.1). Stored uncompressed. */
export type RefType = "catalog" | "certificate" | "history" | "metainfo";
const TYPE_CODE: Record<RefType, number> = { catalog: 0, certificate: 1, history: 2, metainfo: 3 };

export interface Reflog { addRef(hashHex: string, type: RefType, timestamp: number): void; refs(): { hash: string; type: RefType; timestamp: number }[]; close(): void; }

export function openReflog(file: string, fqrn: string): Reflog {
  const db = new Database(file, { create: true });
  db.exec("CREATE TABLE IF NOT EXISTS properties (key TEXT, value TEXT, CONSTRAINT pk_properties PRIMARY KEY (key))");
  db.exec("CREATE TABLE IF NOT EXISTS refs (hash TEXT, type INTEGER, timestamp INTEGER, CONSTRAINT pk_refs PRIMARY KEY (hash))");
  for (const [k, v] of [["schema", "1.0"], ["schema_revision", "0"], ["fqrn", fqrn]]) db.run("INSERT OR IGNORE INTO properties (key, value) VALUES (?, ?)", [k, v]);
  const names = Object.fromEntries(Object.entries(TYPE_CODE).map(([k, v]) => [v, k])) as Record<number, RefType>;
  return {
    addRef: (hash, type, timestamp) => void db.run("INSERT OR IGNORE INTO refs (hash, type, timestamp) VALUES (?, ?, ?)", [hash, TYPE_CODE[type], timestamp]),
    refs: () => (db.query("SELECT hash, type, timestamp FROM refs").all() as Record<string, unknown>[]).map((r) => ({ hash: String(r.hash), type: names[Number(r.type)], timestamp: Number(r.timestamp) })),
    close: () => db.close(),
  };
}
