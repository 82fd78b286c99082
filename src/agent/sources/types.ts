import type { NetworkConfig } from "../network/model";

/** What a source gave: user_data (null when it has none) and the metadata the agent uses. */
export interface SourceResult {
  name: string;                // how the log names it: "--user-data /x", "OpenNebula context.sh in /mnt", "metadata service http://…"
  userData: Uint8Array | null;
  instanceId?: string;
  hostname?: string;
  publicKeys: string[];
  /** The network configuration the context gives (checked), if any. */
  network?: NetworkConfig;
}

/** A source that is not there (no disk, no service): the next one is tried. */
export class SourceAbsent extends Error {}

/** Files on a context disk are small; anything near this is not one. */
export const CONTEXT_FILE_MAX = 1 << 20;
