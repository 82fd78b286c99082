// Builds hostile repositories the way an attacker holding the repository key
// (or a buggy publisher) could: catalogs are edited with SQL, stored under
// their new hash, parents re-pointed up to the root, and the manifest signed
// again with the test's own keys. What the reader must do with them is the test.
import { Database } from "bun:sqlite";
import { createPrivateKey } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync, inflateSync } from "node:zlib";
import { hashBytes, objectPath, parseHex, toHex, type ContentHash } from "../../src/cvmfs/format/hash";
import { parseManifest, signManifest, type Manifest } from "../../src/cvmfs/format/manifest";

export interface HostileRepo { storage: string; keys: string; fqrn: string; }

export const readManifest = (r: HostileRepo): Manifest => parseManifest(readFileSync(join(r.storage, ".cvmfspublished"))).manifest;

/** Stores bytes as an object (zlib unless `raw`) and returns its hash. */
export function putObject(r: HostileRepo, data: Uint8Array, suffix: "" | "C" | "P" | "H" = "", raw = false): ContentHash {
  const bytes = raw ? data : deflateSync(data);
  const hash = hashBytes("sha1", bytes);
  const file = join(r.storage, objectPath(hash, suffix));
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(file, bytes);
  return hash;
}

/** Signs `m` with the repository key and makes it the current manifest. */
export function publishManifest(r: HostileRepo, m: Manifest): void {
  const key = createPrivateKey(readFileSync(join(r.keys, `${r.fqrn}.key`)));
  writeFileSync(join(r.storage, ".cvmfspublished"), signManifest(m, key));
}

/** The nested catalog refs of a catalog, by mountpoint. */
function refsOf(db: Database): { path: string; sha1: string }[] {
  return db.query("SELECT path, sha1 FROM nested_catalogs").all() as { path: string; sha1: string }[];
}

/**
 * Applies `edits` (mountpoint → SQL on that catalog) to the current revision,
 * re-points every parent at the new hashes and re-signs the manifest. Returns
 * the new root hash. `edits` may also replace a catalog wholesale by returning
 * bytes to store as its (uncompressed) content.
 */
export function rewriteCatalogs(r: HostileRepo, edits: Record<string, (db: Database) => unknown>): ContentHash {
  const work = mkdtempSync(join(tmpdir(), "cvm-hostile-"));
  try {
    let n = 0;
    const rewrite = (mountpoint: string, hash: ContentHash): ContentHash => {
      const file = join(work, `${n++}.sqlite`);
      writeFileSync(file, inflateSync(readFileSync(join(r.storage, objectPath(hash, "C")))));
      const db = new Database(file);
      let replaced: unknown;
      try {
        for (const ref of refsOf(db)) {
          const child = rewrite(ref.path, parseHex(ref.sha1));
          db.run("UPDATE nested_catalogs SET sha1 = ? WHERE path = ?", [toHex(child), ref.path]);
        }
        replaced = edits[mountpoint]?.(db);
      } finally {
        db.close();
      }
      return putObject(r, replaced instanceof Uint8Array ? replaced : readFileSync(file), "C");
    };
    const m = readManifest(r);
    const root = rewrite("", m.rootHash);
    publishManifest(r, { ...m, rootHash: root, revision: m.revision + 1, publishedAt: (m.publishedAt ?? 0) + 1 });
    return root;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
