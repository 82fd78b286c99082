import { certificateFingerprint, formatFingerprint } from "../format/certificate";
import type { Chunk, Dirent } from "../format/dirent";
import { toHex } from "../format/hash";
import type { Repository } from "./repository";

/** `drwxr-xr-x`, as ls prints a mode. */
export function modeString(mode: number): string {
  const type = { 0o040000: "d", 0o120000: "l", 0o100000: "-", 0o010000: "p", 0o140000: "s", 0o020000: "c", 0o060000: "b" }[mode & 0o170000] ?? "?";
  const bits = "rwxrwxrwx".split("").map((c, i) => (mode & (0o400 >> i) ? c : "-"));
  if (mode & 0o4000) bits[2] = bits[2] === "x" ? "s" : "S";
  if (mode & 0o2000) bits[5] = bits[5] === "x" ? "s" : "S";
  if (mode & 0o1000) bits[8] = bits[8] === "x" ? "t" : "T";
  return type + bits.join("");
}

/** A dirent as plain data for printing and JSON. */
export function describeDirent(d: Dirent, chunks?: Chunk[]) {
  return {
    path: d.path || "/", type: d.kind, mode: "0" + (d.mode & 0o7777).toString(8), size: d.size, links: d.linkcount,
    uid: d.uid, gid: d.gid, mtime: new Date(d.mtime * 1000 + Math.floor((d.mtimeNs ?? 0) / 1e6)).toISOString(),
    hash: d.hash ? toHex(d.hash) : undefined, compressed: d.kind === "file" ? d.compressed : undefined,
    symlink: d.symlink || undefined, hardlinkGroup: d.hardlinkGroup || undefined,
    nestedCatalog: d.nestedMountpoint || d.nestedRoot || undefined, chunked: d.chunked || undefined,
    xattrs: d.xattrs ? Object.fromEntries([...d.xattrs].map(([k, v]) => [k, Buffer.from(v).toString("utf8")])) : undefined,
    chunks: chunks?.map((c) => ({ offset: c.offset, size: c.size, hash: toHex(c.hash) })),
  };
}

export async function repositoryInfo(repo: Repository) {
  const m = repo.manifest;
  const tags = (await repo.tags()).map((t) => ({ name: t.name, revision: t.revision, hash: toHex(t.hash), timestamp: t.timestamp }));
  return {
    fqrn: repo.fqrn, source: repo.source.location, revision: m.revision, rootHash: toHex(m.rootHash),
    ttl: (await repo.root()).reader.ttl ?? m.ttl, published: m.publishedAt ? new Date(m.publishedAt * 1000).toISOString() : undefined,
    whitelistExpires: repo.whitelist.expires.toISOString(),
    certificateFingerprint: formatFingerprint(certificateFingerprint(repo.certificatePem)),
    tags: tags.sort((a, b) => b.revision - a.revision || a.name.localeCompare(b.name)),
  };
}
