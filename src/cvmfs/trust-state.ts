import { mkdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "../sys/atomic";
import { RepositoryError } from "./errors";
import type { Manifest } from "./manifest";
import { toHex } from "./hash";

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
    return join(this.dir, fqrn);
  }

  private read(fqrn: string): { hash: string; timestamp: number; revision: number } | undefined {
    try {
      const m = /^(.+)T(\d+)R(\d+)$/.exec(readFileSync(this.file(fqrn), "utf8").trim());
      return m ? { hash: m[1], timestamp: Number(m[2]), revision: Number(m[3]) } : undefined;
    } catch {
      return undefined;
    }
  }

  /** Refuses a manifest older than the newest one seen for this repository. */
  check(fqrn: string, m: Manifest): void {
    const seen = this.read(fqrn);
    if (!seen) return;
    const ts = m.publishedAt ?? 0;
    if (ts < seen.timestamp || (ts === seen.timestamp && m.revision < seen.revision))
      throw new RepositoryError(
        `${fqrn}: .cvmfspublished is older (revision ${m.revision}, published ${new Date(ts * 1000).toISOString()}) than one already seen ` +
        `(revision ${seen.revision}, published ${new Date(seen.timestamp * 1000).toISOString()}): refusing a rollback or stale replica`);
  }

  /** Remembers a verified manifest when it is newer than what was seen. */
  record(fqrn: string, m: Manifest): void {
    const seen = this.read(fqrn);
    const ts = m.publishedAt ?? 0;
    if (seen && (ts < seen.timestamp || (ts === seen.timestamp && m.revision <= seen.revision))) return;
    try {
      mkdirSync(this.dir, { recursive: true });
      writeFileAtomic(this.file(fqrn), `${toHex(m.rootHash)}T${ts}R${m.revision}\n`, 0o644);
    } catch { /* a read-only home must not stop reading a repository */ }
  }
}
