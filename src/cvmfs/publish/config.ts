import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parse, stringify } from "ini";
import { errnoCode, UsageError } from "../../cli/errors";
import { writeFileAtomic } from "../../sys/atomic";
import { configDir } from "../../sys/config";
import { parseAlgorithmName, type HashAlgorithm } from "../format/hash";

/**
 * What `cvm publish init` decided for a repository, so later commands need
 * only the name: ~/.config/cvm/publish/<fqrn>.ini (CVM_CONFIG_DIR overrides).
 */
export interface PublisherConfig {
  fqrn: string;
  storage: string;
  keys: string;
  algorithm: HashAlgorithm;
  ttl: number;
}

export const defaultKeysDir = (env = process.env) => join(configDir(env), "keys");
const configFile = (fqrn: string) => join(configDir(), "publish", `${fqrn}.ini`);

export function validateFqrn(fqrn: string): string {
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(fqrn))
    throw new UsageError(`repository name '${fqrn}': expected a fully qualified name such as demo.example.org (lowercase letters, digits, dots, dashes)`);
  return fqrn;
}

export function writePublisherConfig(c: PublisherConfig): string {
  const file = configFile(c.fqrn);
  mkdirSync(dirname(file), { recursive: true });
  writeFileAtomic(file, stringify({ repository: { ...c, storage: resolve(c.storage), keys: resolve(c.keys) } }), 0o644);
  return file;
}

/** The saved configuration, with --storage/--keys overriding it. */
export function readPublisherConfig(fqrn: string, overrides: { storage?: string; keys?: string } = {}): PublisherConfig {
  const file = configFile(fqrn);
  let saved: Record<string, string> = {};
  try {
    saved = (parse(readFileSync(file, "utf8")).repository ?? {}) as Record<string, string>;
  } catch (err) {
    if (errnoCode(err) !== "ENOENT") throw new UsageError(`${file}: cannot read: ${(err as Error).message}`);
    if (!overrides.storage) throw new UsageError(`${fqrn}: not a repository published from here (no ${file}); give --storage DIR, or run 'cvm publish init' first`);
  }
  const ttl = Number(saved.ttl ?? 240);
  if (!Number.isInteger(ttl) || ttl <= 0) throw new UsageError(`${file}: ttl '${saved.ttl}': expected a positive number of seconds`);
  return {
    fqrn,
    storage: resolve(overrides.storage ?? saved.storage),
    keys: resolve(overrides.keys ?? saved.keys ?? defaultKeysDir()),
    algorithm: parseAlgorithmName(saved.algorithm ?? "sha1"),
    ttl,
  };
}
