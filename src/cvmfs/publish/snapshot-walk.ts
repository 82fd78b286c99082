import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RepositoryError } from "../errors";
import { CatalogReader } from "../format/catalog-reader";
import { objectPath, toHex, type ContentHash, type ObjectSuffix } from "../format/hash";
import { checkStored, CorruptObjectError, inflateObjectAsync } from "../format/object";
import { catalogLimit, storedLimit } from "../client/limits";
import { MAX_NESTING } from "../client/repository";
import type { RepositorySource } from "../client/source";
import { settleAll, type Pool, type ReplicaStore } from "./snapshot-store";

export interface CopyStats {
  catalogsFetched: number;
  catalogsPresent: number;   // already in the replica: with everything below them
  objectsFetched: number;    // content objects and chunks
  objectsPresent: number;
  bytesFetched: number;      // as stored (compressed)
}

// Objects this big are fetched one at a time: a download is held in memory until its hash is checked.
const BIG_OBJECT = 64 << 20;

/**
 * Copies catalogs and the objects they name from a source into a replica,
 * byte for byte as stored (still compressed), each checked against its hash
 * before it is written. A catalog is stored only once everything it names
 * (objects, nested catalogs, and theirs) is stored and flushed, so a catalog
 * in the replica stands for its whole tree: a later run skips it, and a run
 * killed at any point leaves only complete trees behind.
 */
export class Replicator {
  readonly stats: CopyStats = { catalogsFetched: 0, catalogsPresent: 0, objectsFetched: 0, objectsPresent: 0, bytesFetched: 0 };
  private readonly catalogs = new Map<string, Promise<void>>();
  private readonly objects = new Map<string, Promise<void>>();
  private bigSlot: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly source: RepositorySource,
    private readonly store: ReplicaStore,
    private readonly pool: Pool,
    private readonly workDir: string,
    private readonly progress?: (s: CopyStats) => void,
  ) {}

  /** A catalog and everything below it (once per run, however often it is named). */
  catalog(hash: ContentHash, mountpoint: string, depth = 0): Promise<void> {
    const path = objectPath(hash, "C");
    let p = this.catalogs.get(path);
    if (!p) {
      p = this.copyCatalog(hash, path, mountpoint, depth);
      p.catch((err) => this.pool.fail(err)); // a bad catalog stops the run as a failed download does
      this.catalogs.set(path, p);
    }
    return p;
  }

  private async copyCatalog(hash: ContentHash, path: string, mountpoint: string, depth: number): Promise<void> {
    if (this.store.has(path)) {
      this.stats.catalogsPresent++;
      return;
    }
    const what = `catalog ${toHex(hash)} (${mountpoint || "/"})`;
    if (depth > MAX_NESTING) throw new RepositoryError(`${what}: nested more than ${MAX_NESTING} levels deep`);
    const raw = await this.download(path, hash, catalogLimit(), what);
    this.stats.catalogsFetched++;
    const staged = this.store.stage(path, raw);
    try {
      const file = join(this.workDir, `${toHex(hash)}.sqlite`);
      let reader: CatalogReader;
      try {
        writeFileSync(file, await inflateObjectAsync(raw, `${this.source.location}/${path} (${what})`, catalogLimit()), { mode: 0o600 });
        reader = CatalogReader.open(file, what);
      } catch (err) {
        rmSync(file, { force: true });
        if (err instanceof CorruptObjectError) throw new RepositoryError(err.message);
        throw err;
      }
      const jobs: Promise<void>[] = [];
      try {
        for (const d of reader.entries()) {
          if (d.kind !== "file" || d.external) continue; // external files live outside the repository
          const limit = (size: number) => (d.compressed ? storedLimit(size) : size);
          if (d.hash) jobs.push(this.object(d.hash, "", limit(d.size), d.path || "/"));
          if (d.chunked) for (const c of reader.chunks(d.path)) jobs.push(this.object(c.hash, "P", limit(c.size), `${d.path} chunk at ${c.offset}`));
        }
        for (const n of reader.nested()) jobs.push(this.catalog(n.hash, n.path, depth + 1));
      } catch (err) {
        this.pool.fail(err);
        await Promise.allSettled(jobs);
        throw err;
      } finally {
        reader.close();
        rmSync(file, { force: true });
      }
      await settleAll(jobs, this.pool);
      await this.store.durable();
      this.store.commit(staged, path);
    } catch (err) {
      this.store.discard(staged);
      throw err;
    }
  }

  /** One content object or chunk, unless the replica has it. */
  private object(hash: ContentHash, suffix: ObjectSuffix, maxBytes: number, what: string): Promise<void> {
    const path = objectPath(hash, suffix);
    let p = this.objects.get(path);
    if (!p) {
      p = this.copyObject(hash, path, maxBytes, what);
      this.objects.set(path, p);
    }
    return p;
  }

  private async copyObject(hash: ContentHash, path: string, maxBytes: number, what: string): Promise<void> {
    if (this.store.has(path)) {
      this.stats.objectsPresent++;
      return;
    }
    try {
      let raw: Uint8Array;
      if (maxBytes > BIG_OBJECT) {
        const turn = this.bigSlot.then(() => this.download(path, hash, maxBytes, what));
        this.bigSlot = turn.catch(() => {});
        raw = await turn;
      } else raw = await this.download(path, hash, maxBytes, what);
      await this.store.putAsync(path, raw);
    } catch (err) {
      this.pool.fail(err); // a full disk stops the run as a bad download does
      throw err;
    }
    this.stats.objectsFetched++;
    this.progress?.(this.stats);
  }

  /** The stored bytes of an object, hash-checked; errors name the object where the source has it, and what it is. */
  async download(path: string, hash: ContentHash, maxBytes: number, what: string): Promise<Uint8Array> {
    const where = `${this.source.location}/${path}`;
    const raw = await this.pool.run(async () => {
      try {
        return await this.source.get(path, maxBytes, (bytes) => {
          checkStored(bytes, hash, where);
          return bytes;
        });
      } catch (err) {
        if (err instanceof CorruptObjectError) throw new RepositoryError(`${err.message} (${what}); refused`);
        if (err instanceof RepositoryError) throw new RepositoryError(`${err.message.startsWith(where) || err.message.startsWith(this.source.location) ? "" : `${where}: `}${err.message} (${what})`);
        throw err;
      }
    });
    this.stats.bytesFetched += raw.length;
    return raw;
  }
}
