import { createPublicKey, type KeyObject } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { RepositoryError } from "../errors";
// Imported as text so that `bun build --compile` embeds them in dist/cvm.
import cernIt1 from "./keys/cern-it1.cern.ch.pub" with { type: "text" };
import cernIt4 from "./keys/cern-it4.cern.ch.pub" with { type: "text" };
import cernIt5 from "./keys/cern-it5.cern.ch.pub" with { type: "text" };
import egi from "./keys/egi.eu.pub" with { type: "text" };
import osg from "./keys/opensciencegrid.org.pub" with { type: "text" };

/** A master public key that may sign .cvmfswhitelist files; `name` is its file name. */
export interface MasterKey { name: string; key: KeyObject; }

// The master keys the stock cvmfs-config packages install, so that cvm
// verifies the grid's repositories with no configuration.
const BUILT_IN: Record<string, string> = {
  "cern-it1.cern.ch.pub": cernIt1, "cern-it4.cern.ch.pub": cernIt4, "cern-it5.cern.ch.pub": cernIt5,
  "egi.eu.pub": egi, "opensciencegrid.org.pub": osg,
};

const PUBLIC_KEY_PEM = /-----BEGIN (RSA )?PUBLIC KEY-----/;

/** A PEM public RSA key; a private key or certificate in a .pub file is refused rather than silently used. */
function publicKeyFrom(pem: string, where: string): KeyObject {
  if (!PUBLIC_KEY_PEM.test(pem)) throw new RepositoryError(`${where}: not a PEM public key (no 'BEGIN PUBLIC KEY' block)`);
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new RepositoryError(`${where}: not a PEM public key (${(err as Error).message.split("\n")[0]})`);
  }
  if (key.asymmetricKeyType !== "rsa") throw new RepositoryError(`${where}: a ${key.asymmetricKeyType} key; CernVM-FS master keys are RSA`);
  return key;
}

export function builtInMasterKeys(): MasterKey[] {
  return Object.entries(BUILT_IN).map(([name, pem]) => ({ name, key: publicKeyFrom(pem, `built-in key ${name}`) }));
}

function readKeyFile(file: string): MasterKey {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new RepositoryError(`${file}: cannot read the key file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return { name: basename(file), key: publicKeyFrom(text, file) };
}

/** Every *.pub in each directory (sorted by name), or the file itself; several may be joined with ':'. */
export function keysAt(spec: string): MasterKey[] {
  const out: MasterKey[] = [];
  for (const item of spec.split(":").filter(Boolean)) {
    let isDir: boolean;
    try {
      isDir = statSync(item).isDirectory();
    } catch {
      throw new RepositoryError(`${item}: no such key file or directory`);
    }
    if (!isDir) out.push(readKeyFile(item));
    else for (const f of readdirSync(item).filter((n) => n.endsWith(".pub")).sort()) out.push(readKeyFile(join(item, f)));
  }
  return out;
}

/**
 * The master keys to trust: the built-in ones plus the keys in `keysDir`
 * (--keys) and in CVMFS_KEYS_DIR, or only the latter with `replaceBuiltIn`.
 * `replaceBuiltIn` defaults to "CVMFS_KEYS_DIR is set": as for the cvmfs
 * client, that variable names the complete set of trusted keys.
 */
export function loadMasterKeys(o: { keysDir?: string; replaceBuiltIn?: boolean; env?: NodeJS.ProcessEnv } = {}): MasterKey[] {
  const envDir = (o.env ?? process.env).CVMFS_KEYS_DIR || undefined;
  const replace = o.replaceBuiltIn ?? envDir !== undefined;
  const extra = [...(envDir ? keysAt(envDir) : []), ...(o.keysDir ? keysAt(o.keysDir) : [])];
  if (replace && !envDir && !o.keysDir) throw new RepositoryError("master keys: replacing the built-in keys needs a key directory (--keys or CVMFS_KEYS_DIR)");
  if (replace && extra.length === 0) throw new RepositoryError(`${[envDir, o.keysDir].filter(Boolean).join(":")}: no *.pub master key found, so no whitelist could be trusted`);
  return replace ? extra : [...builtInMasterKeys(), ...extra];
}
