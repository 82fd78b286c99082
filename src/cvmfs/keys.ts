import { createPublicKey, type KeyObject } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { RepositoryError } from "./errors";
import cernIt1 from "./keys/cern-it1.cern.ch.pub" with { type: "text" };
import cernIt4 from "./keys/cern-it4.cern.ch.pub" with { type: "text" };
import cernIt5 from "./keys/cern-it5.cern.ch.pub" with { type: "text" };
import egi from "./keys/egi.eu.pub" with { type: "text" };
import osg from "./keys/opensciencegrid.org.pub" with { type: "text" };

export interface MasterKey { name: string; key: KeyObject; }

// The master keys the stock cvmfs-config packages install, so cvm verifies the
// grid's repositories with no configuration.
const BUILT_IN: Record<string, string> = {
  "cern-it1.cern.ch.pub": cernIt1, "cern-it4.cern.ch.pub": cernIt4, "cern-it5.cern.ch.pub": cernIt5,
  "egi.eu.pub": egi, "opensciencegrid.org.pub": osg,
};

export function builtInMasterKeys(): MasterKey[] {
  return Object.entries(BUILT_IN).map(([name, pem]) => ({ name, key: createPublicKey(pem) }));
}

function readKey(file: string): MasterKey {
  try {
    return { name: basename(file), key: createPublicKey(readFileSync(file)) };
  } catch (err) {
    throw new RepositoryError(`${file}: not a PEM public key (${(err as Error).message.split("\n")[0]})`);
  }
}

/** Every *.pub in a directory, or the file itself; several may be joined with ':'. */
function keysAt(spec: string): MasterKey[] {
  const out: MasterKey[] = [];
  for (const item of spec.split(":").filter(Boolean)) {
    let isDir: boolean;
    try {
      isDir = statSync(item).isDirectory();
    } catch {
      throw new RepositoryError(`${item}: no such key file or directory`);
    }
    if (!isDir) out.push(readKey(item));
    else for (const f of readdirSync(item).filter((n) => n.endsWith(".pub")).sort()) out.push(readKey(join(item, f)));
  }
  return out;
}

/**
 * The master keys to trust: CVMFS_KEYS_DIR replaces the built-in ones (as for
 * the cvmfs client); `keysDir` (--keys) adds to whichever set that leaves.
 */
export function loadMasterKeys(o: { keysDir?: string; env?: NodeJS.ProcessEnv } = {}): MasterKey[] {
  const env = o.env ?? process.env;
  const base = env.CVMFS_KEYS_DIR ? keysAt(env.CVMFS_KEYS_DIR) : builtInMasterKeys();
  return o.keysDir ? [...base, ...keysAt(o.keysDir)] : base;
}
