import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KeyObject } from "node:crypto";
import { writeFileAtomic } from "../../sys/atomic";
import { CatalogReader } from "../format/catalog-reader";
import { readTags, type Tag } from "../format/history";
import { certificateFingerprint, certificatePublicKey } from "../format/certificate";
import type { Chunk, Dirent } from "../format/dirent";
import { RepositoryError } from "../errors";
import { objectPath, sameHash, toHex, type ContentHash, type ObjectSuffix } from "../format/hash";
import { parseManifest, verifyManifest, type Manifest } from "../format/manifest";
import { openObjectAsync, CorruptObjectError } from "../format/object";
import { catalogLimit, CERTIFICATE_LIMIT, METAINFO_LIMIT, SIGNED_FILE_LIMIT, storedLimit } from "./limits";
import type { RepositorySource } from "./source";
import type { ObjectCache } from "./cache";
import { TrustState } from "./trust-state";
import { isListed, verifyWhitelist, type Whitelist } from "../format/whitelist";

export interface OpenOptions {
  source: RepositorySource;
  fqrn: string;
  masterKeys: KeyObject[];
  now?: Date;
  state?: TrustState | null;   // null: no rollback protection (e.g. reading a storage you publish)
  cache?: ObjectCache;         // verified objects kept locally (the stratum client's cache)
  ownsCache?: boolean;         // close the cache with the repository (default true)
  fresh?: boolean;             // ask proxies for fresh signed files (no-cache)
}

/** The signed files a repository was opened from, as they arrived (kept for offline use). */
export interface SignedFiles { manifest: Uint8Array; whitelist: Uint8Array; }

/** A loaded catalog and the repository path it is attached at ("" for the root). */
export interface Attached { mountpoint: string; reader: CatalogReader; hash: ContentHash; depth: number; }

/** Deeper nesting than this is a hostile catalog chain, not a repository (upstream trees nest a handful of levels). */
export const MAX_NESTING = 64;

/** "/a/b/" or "a/b" → "/a/b"; "/" → "". Refuses "..". */
export function normalizePath(path: string): string {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw new RepositoryError(`${path}: '..' is not allowed in repository paths`);
  return parts.length ? "/" + parts.join("/") : "";
}

const isUnder = (path: string, mountpoint: string) =>
  mountpoint === "" || path === mountpoint || path.startsWith(mountpoint + "/");

/**
 * A repository read with full verification: the manifest's signature, the
 * certificate on a valid whitelist signed by a trusted master key, and the
 * hash of every catalog and object before it is used.
 */
export class Repository {
  private readonly attached = new Map<string, Attached>();
  private readonly loading = new Map<string, Promise<Uint8Array>>();
  private work?: string;
  /** Where catalogs go when there is no cache: made on first use, so a reader with a cache never leaves one behind (even when killed). */
  private get workDir(): string {
    return this.work ??= mkdtempSync(join(tmpdir(), "cvm-fs-"));
  }

  private constructor(
    readonly source: RepositorySource,
    readonly fqrn: string,
    readonly manifest: Manifest,
    readonly whitelist: Whitelist,
    readonly certificatePem: string,
    readonly signedFiles: SignedFiles,
    readonly cache?: ObjectCache,
    private readonly ownsCache = false,  // the view Repository.open returns closes the cache; atRoot views do not
  ) {}

  static async open(o: OpenOptions): Promise<Repository> {
    const fresh = { noCache: !!o.fresh };
    const manifestBytes = await o.source.get(".cvmfspublished", SIGNED_FILE_LIMIT, undefined, fresh);
    const { manifest, signed } = parseManifest(manifestBytes, `${o.source.location}/.cvmfspublished`);
    if (manifest.fqrn !== o.fqrn)
      throw new RepositoryError(`${o.source.location}/.cvmfspublished: names repository '${manifest.fqrn ?? ""}', expected '${o.fqrn}'`);
    o.state?.check(o.fqrn, manifest);
    if (!manifest.certificate) throw new RepositoryError(`${o.source.location}/.cvmfspublished: no certificate (X) field`);
    const certificatePem = new TextDecoder().decode(await cachedObject(o.source, o.cache, manifest.certificate, "X", "certificate"));
    const certKey = certificatePublicKey(certificatePem, `certificate ${toHex(manifest.certificate)}`);
    verifyManifest(signed, certKey);
    const whitelistBytes = await o.source.get(".cvmfswhitelist", SIGNED_FILE_LIMIT, undefined, fresh);
    const whitelist = verifyWhitelist(whitelistBytes, { fqrn: o.fqrn, masterKeys: o.masterKeys, now: o.now ?? new Date() });
    const algorithms = new Set(whitelist.fingerprints.map((f) => f.algorithm));
    if (![...algorithms].some((alg) => isListed(whitelist, certificateFingerprint(certificatePem, alg))))
      throw new RepositoryError(`${o.source.location}/.cvmfswhitelist: the repository certificate (fingerprint ${toHex(certificateFingerprint(certificatePem))}) is not on the whitelist`);
    o.state?.record(o.fqrn, manifest);
    return new Repository(o.source, o.fqrn, manifest, whitelist, certificatePem, { manifest: manifestBytes, whitelist: whitelistBytes }, o.cache, o.ownsCache ?? true);
  }

  close(): void {
    this.release();
    if (this.ownsCache) this.cache?.close();
  }

  /** Closes this revision's catalogs and releases their cache pins; the cache stays open (a mount closes it last). */
  release(): void {
    for (const a of this.attached.values()) { a.reader.close(); this.cache?.unpin(a.hash); }
    this.attached.clear();
    if (this.work) rmSync(this.work, { recursive: true, force: true });
    this.work = undefined;
  }

  /** The catalogs open so far (each pinned in the cache while open). */
  get openCatalogs(): Attached[] { return [...this.attached.values()]; }

  /**
   * Downloads, verifies and opens a catalog, once per mountpoint for the life
   * of this object; checks that it really is the catalog of that mountpoint.
   */
  private async attach(mountpoint: string, hash: ContentHash, depth: number): Promise<Attached> {
    const known = this.attached.get(mountpoint);
    if (known) {
      if (!sameHash(known.hash, hash)) throw new RepositoryError(`catalog ${mountpoint || "/"} is referenced with two different hashes (${toHex(known.hash)}, ${toHex(hash)})`);
      return known;
    }
    if (depth > MAX_NESTING) throw new RepositoryError(`catalog ${mountpoint}: nested more than ${MAX_NESTING} levels deep`);
    const what = `catalog ${toHex(hash)} (${mountpoint || "/"})`;
    const reader = CatalogReader.open(await this.catalogFile(hash, `catalog ${mountpoint || "/"}`), what);
    const top = reader.lookup(mountpoint);
    if (!top || top.kind !== "dir" || (mountpoint !== "" && !top.nestedRoot))
      throw new RepositoryError(`${what}: has no root directory entry for ${mountpoint || "/"}: not the catalog of that path`);
    const a = { mountpoint, reader, hash, depth };
    this.attached.set(mountpoint, a);
    this.cache?.pin(hash);
    return a;
  }

  /** A verified, inflated catalog as a file to open: in the cache when there is one, else in this reader's work directory. */
  private async catalogFile(hash: ContentHash, what: string): Promise<string> {
    const cached = this.cache?.lookup(hash);
    if (cached) return cached;
    const bytes = await fetchObject(this.source, hash, "C", what);
    const inCache = await this.cache?.insert(hash, bytes, "catalog");
    if (inCache) return inCache;
    const file = join(this.workDir, `${toHex(hash)}.sqlite`);
    writeFileAtomic(file, bytes, 0o600);
    return file;
  }

  /** Catalogs loaded so far (the stock client's user.nclg). */
  get loadedCatalogs(): number { return this.attached.size; }

  root(): Promise<Attached> {
    return this.attach("", this.manifest.rootHash, 0);
  }

  /** The deepest catalog responsible for `path`, attaching nested catalogs on the way. */
  private async catalogFor(path: string): Promise<Attached> {
    let current = await this.root();
    for (;;) {
      const next = current.reader.nested(current.mountpoint).find((n) => isUnder(path, n.path));
      if (!next) return current;
      current = await this.attach(next.path, next.hash, current.depth + 1);
    }
  }

  async stat(path: string): Promise<Dirent> {
    const p = normalizePath(path);
    const d = (await this.catalogFor(p)).reader.lookup(p);
    if (!d) throw new RepositoryError(`${p || "/"}: no such file or directory in ${this.fqrn}`);
    return d;
  }

  async list(path: string): Promise<Dirent[]> {
    const d = await this.stat(path);
    if (d.kind !== "dir") throw new RepositoryError(`${d.path || "/"}: not a directory`);
    return (await this.catalogFor(d.path)).reader.list(d.path);
  }

  async chunks(d: Dirent): Promise<Chunk[]> {
    return (await this.catalogFor(d.path)).reader.chunks(d.path);
  }

  /** Where a regular file's content comes from, checked against the catalog before any byte is fetched. */
  async pieces(d: Dirent): Promise<Piece[]> {
    return filePieces(d, d.chunked ? await this.chunks(d) : []);
  }

  /** The file's content, piece by piece (one piece per chunk), each verified before it is yielded. */
  async *content(d: Dirent): AsyncGenerator<Uint8Array> {
    for (const p of await this.pieces(d)) yield await this.piece(d, p);
  }

  /** One piece of a file: from the cache when it holds it with the size the catalog gives, else fetched, verified and cached. */
  async piece(d: Dirent, p: Piece): Promise<Uint8Array> {
    const cached = this.cache?.read(p.hash, p.size);
    if (cached) return cached;
    // One fetch per object until it is in the cache: two files with the same content share it.
    const key = `${objectPath(p.hash, p.suffix)} ${p.size}`;
    const known = this.loading.get(key);
    if (known) return known;
    const loading = (async () => {
      const data = await fetchPiece(this.source, d, p);
      await this.cache?.insert(p.hash, data, "regular");
      return data;
    })().finally(() => this.loading.delete(key));
    this.loading.set(key, loading);
    return loading;
  }

  /**
   * Every entry below `path` (depth first, parents before children), crossing
   * into nested catalogs. `path` itself comes first.
   */
  async *walk(path = ""): AsyncGenerator<Dirent> {
    const top = await this.stat(path);
    yield top;
    if (top.kind !== "dir") return;
    const stack = [top.path];
    while (stack.length) {
      const dir = stack.pop()!;
      const children = (await this.catalogFor(dir)).reader.list(dir);
      for (const child of children) yield child;
      for (let i = children.length - 1; i >= 0; i--) if (children[i].kind === "dir") stack.push(children[i].path);
    }
  }

  /** Every catalog of this revision with its hash, parents first, each once (for verify). */
  async *catalogs(): AsyncGenerator<Attached> {
    const queue: Attached[] = [await this.root()];
    const seen = new Set<string>([""]);
    while (queue.length) {
      const a = queue.shift()!;
      yield a;
      for (const n of a.reader.nested(a.mountpoint)) {
        if (seen.has(n.path)) continue;
        seen.add(n.path);
        queue.push(await this.attach(n.path, n.hash, a.depth + 1));
      }
    }
  }

  /** The tags of the history database (none when the manifest names no history). */
  async tags(): Promise<Tag[]> {
    if (!this.manifest.history) return [];
    const file = join(this.workDir, `${toHex(this.manifest.history)}.history.sqlite`);
    writeFileAtomic(file, await fetchObject(this.source, this.manifest.history, "H", "history database"), 0o600);
    return readTags(file);
  }

  /** Opens an older root catalog (from the history) in a separate view; for verify --all. */
  async atRoot(hash: ContentHash): Promise<Repository> {
    const view = new Repository(this.source, this.fqrn, { ...this.manifest, rootHash: hash }, this.whitelist, this.certificatePem, this.signedFiles, this.cache);
    return view;
  }
}

/** One stored object of a regular file: the whole content, or one chunk. */
export interface Piece { hash: ContentHash; suffix: ObjectSuffix; offset: number; size: number; }

/**
 * A regular file's objects, after checking what the catalog says of them:
 * a content hash, or chunks that cover [0, size) exactly, in order, with no
 * gap, overlap or empty chunk. `get`, `cat` and `verify` all read through this.
 */
export function filePieces(d: Dirent, chunks: Chunk[]): Piece[] {
  const where = d.path || "/";
  if (d.kind !== "file") throw new RepositoryError(`${where}: not a regular file`);
  if (d.external) throw new RepositoryError(`${where}: an external file (served from CVMFS_EXTERNAL_URL), which cvm does not read yet`);
  if (!d.chunked) {
    if (!d.hash) throw new RepositoryError(`${where}: the catalog gives no content hash`);
    return [{ hash: d.hash, suffix: "", offset: 0, size: d.size }];
  }
  if (chunks.length === 0 && d.size > 0) throw new RepositoryError(`${where}: a chunked file of ${d.size} bytes with no chunks in the catalog`);
  let expected = 0;
  for (const c of chunks) {
    if (c.offset !== expected) throw new RepositoryError(`${where}: chunk list has a ${c.offset > expected ? "gap" : "overlap"} at offset ${expected}`);
    if (c.size <= 0) throw new RepositoryError(`${where}: chunk at offset ${c.offset} has size ${c.size}`);
    expected += c.size;
  }
  if (expected !== d.size) throw new RepositoryError(`${where}: chunks cover ${expected} bytes, the catalog says ${d.size}`);
  return chunks.map((c) => ({ hash: c.hash, suffix: "P", offset: c.offset, size: c.size }));
}

/** One piece, hash-checked and inflated to exactly the size the catalog gives. */
export async function fetchPiece(source: RepositorySource, d: Dirent, p: Piece): Promise<Uint8Array> {
  const what = p.suffix === "P" ? `${d.path} chunk at ${p.offset}` : d.path;
  const data = await fetchObject(source, p.hash, p.suffix, what, { compressed: d.compressed, size: p.size });
  if (data.length !== p.size) throw new RepositoryError(`${what}: content has ${data.length} bytes, the catalog says ${p.size}`);
  return data;
}

/** A fixed-size object (certificate, history) through the cache when there is one. */
async function cachedObject(source: RepositorySource, cache: ObjectCache | undefined, hash: ContentHash, suffix: "X" | "H", what: string): Promise<Uint8Array> {
  const cached = cache?.read(hash);
  if (cached) return cached;
  const data = await fetchObject(source, hash, suffix, what);
  await cache?.insert(hash, data, "regular");
  return data;
}

/**
 * GET + hash check + inflate: no byte reaches a caller unverified. `size` is
 * the content size a catalog promises for a data object (caps both the
 * download and the inflated output); other kinds have fixed caps.
 */
export async function fetchObject(source: RepositorySource, hash: ContentHash, suffix: ObjectSuffix, what: string,
  o: { compressed?: boolean; size?: number } = {}): Promise<Uint8Array> {
  const compressed = o.compressed ?? true;
  let inflated: number;
  if (o.size !== undefined) inflated = o.size;
  else if (suffix === "C" || suffix === "H") inflated = catalogLimit();
  else if (suffix === "X") inflated = CERTIFICATE_LIMIT;
  else if (suffix === "M") inflated = METAINFO_LIMIT;
  else throw new RepositoryError(`${what}: no size known for a data object`);
  const stored = o.size === undefined ? inflated : compressed ? storedLimit(o.size) : o.size;
  const path = objectPath(hash, suffix);
  try {
    return await source.get(path, stored, (bytes) => openObjectAsync(bytes, hash, `${what} (${path})`, compressed, inflated));
  } catch (err) {
    if (err instanceof CorruptObjectError) throw new RepositoryError(err.message);
    // A fetcher names only the object; say which entry needed it.
    if (err instanceof RepositoryError && err.message.startsWith(`${path}: `)) throw new RepositoryError(`${what}: ${err.message}`);
    throw err;
  }
}
