import { UsageError } from "../../cli/errors";
import { loadMasterKeys } from "../format/keys";
import { Repository } from "./repository";
import { guessFqrn, sourceFor } from "./source";
import { TrustState } from "./trust-state";

export interface OpenRequest {
  location: string;     // http://host/cvmfs/<fqrn>, file:///srv/cvmfs/<fqrn>, or a storage path
  fqrn?: string;        // when the location does not end in the name
  keys?: string;        // extra master keys: a dir of *.pub (added to the built-in ones)
}

/**
 * Opens a repository for reading with the default trust: the built-in master
 * keys of cern.ch, egi.eu and opensciencegrid.org (CVMFS_KEYS_DIR replaces
 * them, as for the cvmfs client), plus --keys, and rollback protection.
 */
export async function openRepository(r: OpenRequest): Promise<Repository> {
  const fqrn = r.fqrn ?? guessFqrn(r.location);
  if (!fqrn) throw new UsageError(`${r.location}: cannot tell the repository name from this location; give --fqrn`);
  const masterKeys = loadMasterKeys({ keysDir: r.keys });
  return Repository.open({ source: sourceFor(r.location), fqrn, masterKeys: masterKeys.map((k) => k.key), state: TrustState.default() });
}
