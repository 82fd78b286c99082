import { mkdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "../../sys/atomic";
import { errnoCode } from "../../cli/errors";
import { MAX_TIMESTAMP } from "../format/manifest";
import { RepositoryError } from "../errors";
import type { Manifest } from "../format/manifest";
import { toHex } from "../format/hash";

/** A manifest older than one already seen: a rollback, or a stale replica when another server has the newer one. */
export class StaleManifestError extends RepositoryError {}

/**
 * Rollback protection, as the cvmfs client's breadcrumb: the newest manifest
 * seen per repository (`<root hash>T<publish time>R<revision>`). A manifest
 * older than that is a replayed or stale copy and is refused.
 */
export class TrustState {
  constructor(readonly dir: string) {}

  static default(env = process.env): TrustState {
    const base = env.CVM_STATE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "cvm");
    return new TrustState(join(base, "breadcrumbs"));
  }

  private file(fqrn: string) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(fqrn)) throw new RepositoryError(`repository name '${fqrn.slice(0, 80)}': not a repository name (letters, digits, dots, dashes)`);
    return join(this.dir, fqrn);
  }

  /**
   * The breadcrumb, or undefined when there is none. One that cannot be read
   * is an error, not "none": ignoring it would switch rollback protection off.
   */
  private read(fqrn: string): { hash: string; timestamp: number; revision: number } | undefined {
    const file = this.file(fqrn);
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return undefined;
      throw new RepositoryError(`${file}: cannot read the rollback breadcrumb of ${fqrn}: ${(err as Error).message}`);
    }
    const m = /^([0-9a-f]{40}(?:-[a-z0-9]+)?)T(\d{1,12})R(\d{1,15})$/.exec(text.trim());
    const timestamp = Number(m?.[2]), revision = Number(m?.[3]);
    if (!m || timestamp > MAX_TIMESTAMP)
      throw new RepositoryError(`${file}: the rollback breadcrumb of ${fqrn} is corrupt ('${text.trim().slice(0, 60)}'); if you trust the repository's servers, reset it with: rm '${file}'`);
    return { hash: m[1], timestamp, revision };
  }

  /** Refuses a manifest older than the newest one seen for this repository. */
  check(fqrn: string, m: Manifest): void {
    const seen = this.read(fqrn);
    if (!seen) return;
    const ts = m.publishedAt ?? 0;
    if (ts < seen.timestamp || (ts === seen.timestamp && m.revision < seen.revision))
      throw new StaleManifestError(
        `${fqrn}: .cvmfspublished is older (revision ${m.revision}, published ${new Date(ts * 1000).toISOString()}) than one already seen ` +
        `(revision ${seen.revision}, published ${new Date(seen.timestamp * 1000).toISOString()}): refusing a rollback or stale replica`);
  }

  /** Remembers a verified manifest when it is newer than what was seen. */
  record(fqrn: string, m: Manifest): void {
    const seen = this.read(fqrn);
    const ts = m.publishedAt ?? 0;
    if (ts > MAX_TIMESTAMP || !Number.isSafeInteger(m.revision)) return; // parseManifest refuses these; never record them
    if (seen && (ts < seen.timestamp || (ts === seen.timestamp && m.revision <= seen.revision))) return;
    try {
      mkdirSync(this.dir, { recursive: true });
      writeFileAtomic(this.file(fqrn), `${toHex(m.rootHash)}T${ts}R${m.revision}\n`, 0o644);
    } catch { /* a read-only home must not stop reading a repository */ }
  }
}
