import { ALGORITHM_FLAG_VALUE, ALGORITHMS, type HashAlgorithm } from "./hash";
import type { Dirent, DirentKind } from "./dirent";

/** `flags` bits of a catalog row (spec §2.5). */
export const FLAG = {
  dir: 1, nestedMountpoint: 2, file: 4, link: 8, special: 16, nestedRoot: 32, chunked: 64, external: 128,
  bindMountpoint: 0x4000, hidden: 0x8000, directIo: 0x10000,
} as const;
const HASH_SHIFT = 8, HASH_MASK = 0x700;
const COMPRESSION_SHIFT = 11, COMPRESSION_MASK = 0x3800;
const COMPRESSION_NONE = 1;

export const DEFAULT_TTL = 240;
export const SCHEMA = "2.5";
export const SCHEMA_REVISION = 7;

export const CATALOG_DDL = [
  "CREATE TABLE properties (key TEXT, value TEXT, CONSTRAINT pk_properties PRIMARY KEY (key))",
  "CREATE TABLE catalog (md5path_1 INTEGER, md5path_2 INTEGER, parent_1 INTEGER, parent_2 INTEGER, hardlinks INTEGER, hash BLOB, size INTEGER, mode INTEGER, mtime INTEGER, mtimens INTEGER, flags INTEGER, name TEXT, symlink TEXT, uid INTEGER, gid INTEGER, xattr BLOB, CONSTRAINT pk_catalog PRIMARY KEY (md5path_1, md5path_2))",
  "CREATE INDEX idx_catalog_parent ON catalog (parent_1, parent_2)",
  "CREATE TABLE chunks (md5path_1 INTEGER, md5path_2 INTEGER, offset INTEGER, size INTEGER, hash BLOB, CONSTRAINT pk_chunks PRIMARY KEY (md5path_1, md5path_2, offset, size), FOREIGN KEY (md5path_1, md5path_2) REFERENCES catalog(md5path_1, md5path_2))",
  "CREATE TABLE nested_catalogs (path TEXT, sha1 TEXT, size INTEGER, CONSTRAINT pk_nested_catalogs PRIMARY KEY (path))",
  "CREATE TABLE bind_mountpoints (path TEXT, sha1 TEXT, size INTEGER, CONSTRAINT pk_bind_mountpoints PRIMARY KEY (path))",
  "CREATE TABLE statistics (counter TEXT, value INTEGER, CONSTRAINT pk_statistics PRIMARY KEY (counter))",
];

/** What CreateDatabaseFlags writes for an entry. */
export function encodeFlags(d: Dirent): number {
  let f = d.nestedRoot ? FLAG.nestedRoot : d.nestedMountpoint ? FLAG.nestedMountpoint : 0;
  if (d.kind === "dir") f |= FLAG.dir;
  else if (d.kind === "symlink") f |= FLAG.file | FLAG.link;
  else if (d.kind === "special") f |= FLAG.file | FLAG.special;
  else {
    f |= FLAG.file | ((d.compressed ? 0 : COMPRESSION_NONE) << COMPRESSION_SHIFT);
    if (d.chunked) f |= FLAG.chunked;
    if (d.external) f |= FLAG.external;
    if (d.directIo) f |= FLAG.directIo;
  }
  const algorithm = d.hash?.algorithm;
  if (algorithm || d.chunked) f |= ALGORITHM_FLAG_VALUE[algorithm ?? "sha1"] << HASH_SHIFT;
  if (d.hidden) f |= FLAG.hidden;
  return f;
}

export function kindOf(flags: number): DirentKind {
  if (flags & FLAG.dir) return "dir";
  if (flags & FLAG.link) return "symlink";
  if (flags & FLAG.special) return "special";
  return "file";
}

export function algorithmOf(flags: number): HashAlgorithm {
  return ALGORITHMS[(flags & HASH_MASK) >> HASH_SHIFT] ?? "sha1";
}

export const isCompressed = (flags: number) => ((flags & COMPRESSION_MASK) >> COMPRESSION_SHIFT) !== COMPRESSION_NONE;

/** hardlinks column: (group << 32) | linkcount. */
export const encodeHardlinks = (group: number, linkcount: number) => (BigInt(group) << 32n) | BigInt(linkcount);
export function decodeHardlinks(v: number | bigint | null): { group: number; linkcount: number } {
  const n = BigInt(v ?? 1);
  return { group: Number(n >> 32n), linkcount: Number(n & 0xffffffffn) };
}
