import type { ContentHash } from "./hash";

/** What a catalog row says about one path (spec §2.5–2.6), decoded. */
export type DirentKind = "dir" | "file" | "symlink" | "special";

export interface Dirent {
  path: string;              // absolute repository path: "" for the root, else "/a/b"
  name: string;              // last component, "" for the root
  kind: DirentKind;
  mode: number;              // full st_mode including the type bits
  size: number;              // file bytes; 4096 for dirs; target length for symlinks
  mtime: number;             // seconds
  mtimeNs?: number;          // nanosecond part, when known (schema revision 7)
  uid: number;
  gid: number;
  linkcount: number;         // low 32 bits of `hardlinks`
  hardlinkGroup: number;     // high 32 bits; 0 = not hardlinked
  hash?: ContentHash;        // regular files (bulk hash; absent for chunked files without one)
  compressed: boolean;       // false when the object is stored raw (compression flag "none")
  symlink?: string;          // raw target, $(VAR) not expanded
  chunked: boolean;
  nestedMountpoint: boolean; // dir in the parent catalog where a nested catalog is attached
  nestedRoot: boolean;       // root dir entry inside a nested catalog
  hidden: boolean;
  external: boolean;
  directIo: boolean;
  xattrs?: Map<string, Uint8Array>;
}

export interface Chunk { offset: number; size: number; hash: ContentHash; }

export interface NestedCatalogRef { path: string; hash: ContentHash; size: number; }

/** The 12 statistics quantities; each is stored as self_<name> and subtree_<name> (spec §2.4). */
export const COUNTER_NAMES = [
  "regular", "symlink", "special", "dir", "nested", "chunked", "chunks",
  "file_size", "chunked_size", "xattr", "external", "external_file_size",
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];
export type Counters = Record<CounterName, number>;

export const zeroCounters = (): Counters => Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])) as Counters;
