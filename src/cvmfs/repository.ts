import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KeyObject } from "node:crypto";
import { writeFileAtomic } from "../sys/atomic";
import { CatalogReader } from "./catalog-reader";
import { readTags, type Tag } from "./history";
import { certificateFingerprint, certificatePublicKey } from "./certificate";
import type { Chunk, Dirent } from "./dirent";
import { RepositoryError } from "./errors";
import { objectPath, sameHash, toHex, type ContentHash, type ObjectSuffix } from "./hash";
import { parseManifest, verifyManifest, type Manifest } from "./manifest";
import { openObject, CorruptObjectError } from "./object";
import type { RepositorySource } from "./source";
import { TrustState } from "./trust-state";
import { isListed, verifyWhitelist, type Whitelist } from "./whitelist";

export interface OpenOptions {
  source: RepositorySource;
  fqrn: string;
  masterKeys: KeyObject[];
  now?: Date;
  state?: TrustState | null;   // null: no rollback protection (e.g. reading a storage you publish)
}

/** A loaded catalog and the repository path it is attached at ("" for the root). */
interface Attached { mountpoint: string; reader: CatalogReader; hash: ContentHash; }

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
  private readonly workDir = mkdtempSync(join(tmpdir(), "cvm-fs-"));

  private constructor(
    readonly source: RepositorySource,
    readonly fqrn: string,
    readonly manifest: Manifest,
    readonly whitelist: Whitelist,
    readonly certificatePem: string,
  ) {}

  static async open(o: OpenOptions): Promise<Repository> {
    const { manifest, signed } = parseManifest(await o.source.get(".cvmfspublished"), `${o.source.location}/.cvmfspublished`);
    if (manifest.fqrn !== o.fqrn)
      throw new RepositoryError(`${o.source.location}/.cvmfspublished: names repository '${manifest.fqrn ?? ""}', expected '${o.fqrn}'`);
    o.state?.check(o.fqrn, manifest);
    if (!manifest.certificate) throw new RepositoryError(`${o.source.location}/.cvmfspublished: no certificate (X) field`);
    const certificatePem = new TextDecoder().decode(await fetchObject(o.source, manifest.certificate, "X", "certificate"));
    const certKey = certificatePublicKey(certificatePem, `certificate ${toHex(manifest.certificate)}`);
    verifyManifest(signed, certKey);
    const whitelist = verifyWhitelist(await o.source.get(".cvmfswhitelist"), { fqrn: o.fqrn, masterKeys: o.masterKeys, now: o.now ?? new Date() });
    const algorithms = new Set(whitelist.fingerprints.map((f) => f.algorithm));
    if (![...algorithms].some((alg) => isListed(whitelist, certificateFingerprint(certificatePem, alg))))
      throw new RepositoryError(`${o.source.location}/.cvmfswhitelist: the repository certificate (fingerprint ${toHex(certificateFingerprint(certificatePem))}) is not on the whitelist`);
    o.state?.record(o.fqrn, manifest);
    return new Repository(o.source, o.fqrn, manifest, whitelist, certificatePem);
  }

  close(): void {
    for (const a of this.attached.values()) a.reader.close();
    this.attached.clear();
    rmSync(this.workDir, { recursive: true, force: true });
  }

  /** Downloads, verifies and opens a catalog; catalogs are cached for the life of this object. */
  private async attach(mountpoint: string, hash: ContentHash): Promise<Attached> {
    const known = this.attached.get(mountpoint);
    if (known && sameHash(known.hash, hash)) return known;
    const bytes = await fetchObject(this.source, hash, "C", `catalog ${mountpoint || "/"}`);
    const file = join(this.workDir, `${toHex(hash)}.sqlite`);
    writeFileAtomic(file, bytes, 0o600);
    const reader = CatalogReader.open(file, `catalog ${toHex(hash)} (${mountpoint || "/"})`);
    const a = { mountpoint, reader, hash };
    this.attached.set(mountpoint, a);
    return a;
  }

  root(): Promise<Attached> {
    return this.attach("", this.manifest.rootHash);
  }

  /** The deepest catalog responsible for `path`, attaching nested catalogs on the way. */
  private async catalogFor(path: string): Promise<Attached> {
    let current = await this.root();
    for (;;) {
      const next = current.reader.nested().find((n) => isUnder(path, n.path));
      if (!next) return current;
      current = await this.attach(next.path, next.hash);
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

  /** The file's content, piece by piece (one piece per chunk), each verified before it is yielded. */
  async *content(d: Dirent): AsyncGenerator<Uint8Array> {
    if (d.kind !== "file") throw new RepositoryError(`${d.path || "/"}: not a regular file`);
    if (d.external) throw new RepositoryError(`${d.path}: an external file (served from CVMFS_EXTERNAL_URL), which cvm does not read yet`);
    if (d.chunked) {
      let expected = 0;
      for (const c of await this.chunks(d)) {
        if (c.offset !== expected) throw new RepositoryError(`${d.path}: chunk list has a gap or overlap at offset ${expected}`);
        const piece = await fetchObject(this.source, c.hash, "P", `${d.path} chunk at ${c.offset}`, d.compressed);
        if (piece.length !== c.size) throw new RepositoryError(`${d.path}: chunk at ${c.offset} has ${piece.length} bytes, the catalog says ${c.size}`);
        expected += c.size;
        yield piece;
      }
      if (expected !== d.size) throw new RepositoryError(`${d.path}: chunks cover ${expected} bytes, the catalog says ${d.size}`);
      return;
    }
    if (!d.hash) throw new RepositoryError(`${d.path}: the catalog gives no content hash`);
    const data = await fetchObject(this.source, d.hash, "", d.path, d.compressed);
    if (data.length !== d.size) throw new RepositoryError(`${d.path}: content has ${data.length} bytes, the catalog says ${d.size}`);
    yield data;
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

  /** Every catalog of this revision with its hash, parents first (for verify). */
  async *catalogs(): AsyncGenerator<Attached> {
    const queue: Attached[] = [await this.root()];
    while (queue.length) {
      const a = queue.shift()!;
      yield a;
      for (const n of a.reader.nested()) queue.push(await this.attach(n.path, n.hash));
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
    const view = new Repository(this.source, this.fqrn, { ...this.manifest, rootHash: hash }, this.whitelist, this.certificatePem);
    return view;
  }
}

/** GET + hash check + inflate: no byte reaches a caller unverified. */
export async function fetchObject(source: RepositorySource, hash: ContentHash, suffix: ObjectSuffix, what: string, compressed = true): Promise<Uint8Array> {
  const bytes = await source.get(objectPath(hash, suffix));
  try {
    return openObject(bytes, hash, `${what} (${objectPath(hash, suffix)})`, compressed);
  } catch (err) {
    if (err instanceof CorruptObjectError) throw new RepositoryError(err.message);
    throw err;
  }
}
