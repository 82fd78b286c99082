import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { RepositoryError } from "../errors";
import type { HashAlgorithm } from "../format/hash";
import { certificateFingerprint } from "../format/certificate";
import { signWhitelist, whitelistLetter } from "../format/whitelist";
import { writePublisherConfig } from "./config";
import { ensureKeys, loadPublisherKeys } from "./keys";
import { LocalStorage } from "./storage";
import { publishRevision, type SyncResult } from "./sync";

export const DEFAULT_WHITELIST_DAYS = 30;

export interface InitOptions {
  fqrn: string;
  storage: string;
  keysDir: string;
  algorithm: HashAlgorithm;
  ttl: number;
  whitelistDays?: number;
  now?: Date;
}

/** Signs a fresh whitelist listing the repository certificate, valid `days` days; returns the expiry clients enforce. */
export function writeWhitelist(o: { fqrn: string; storage: string; keysDir: string; days: number; algorithm: HashAlgorithm; now?: Date }): Date {
  const keys = loadPublisherKeys(o.keysDir, o.fqrn);
  const now = o.now ?? new Date();
  const letter = whitelistLetter({ fqrn: o.fqrn, fingerprints: [certificateFingerprint(keys.certificatePem, o.algorithm)], now, validDays: o.days });
  new LocalStorage(o.storage).writeRootFile(".cvmfswhitelist", signWhitelist(letter, keys.masterKey, o.algorithm));
  const expires = new Date(now.getTime() + o.days * 86400_000);
  expires.setUTCMinutes(0, 0, 0); // clients treat it as expired from the top of that hour
  return expires;
}

/**
 * A new repository: keys (kept if present), the storage skeleton, a signed
 * whitelist and revision 1 with an empty root directory. Refuses a storage
 * that already holds a repository.
 */
export async function initRepository(o: InitOptions): Promise<{ result: SyncResult; createdKeys: string[]; masterPublicKey: string; configFile: string; whitelistExpires: Date }> {
  const storage = new LocalStorage(resolve(o.storage));
  if (existsSync(join(storage.root, ".cvmfspublished"))) throw new RepositoryError(`${storage.root}: already holds a repository (.cvmfspublished exists)`);
  if (existsSync(storage.root) && readdirSync(storage.root).some((f) => f !== "data"))
    throw new RepositoryError(`${storage.root}: not empty; give an empty or new directory`);
  const { keys, created } = await ensureKeys(o.keysDir, o.fqrn);
  mkdirSync(storage.root, { recursive: true });
  storage.createSkeleton();
  const whitelistExpires = writeWhitelist({ ...o, storage: storage.root, days: o.whitelistDays ?? DEFAULT_WHITELIST_DAYS });
  const configFile = writePublisherConfig({ fqrn: o.fqrn, storage: storage.root, keys: o.keysDir, algorithm: o.algorithm, ttl: o.ttl });
  const empty = mkdtempSync(join(tmpdir(), "cvm-empty-"));
  try {
    chmodSync(empty, 0o755);
    const result = await publishRevision({ fqrn: o.fqrn, source: empty, storage: storage.root, keysDir: o.keysDir, algorithm: o.algorithm, ttl: o.ttl, now: o.now });
    return { result, createdKeys: created, masterPublicKey: keys.masterPublicPem, configFile, whitelistExpires };
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
}
