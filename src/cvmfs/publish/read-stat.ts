import type { BigIntStats } from "node:fs";

/** A file's metadata as it was while its content was read: what the catalog records with that content. */
export interface ReadStat { size: number; mtime: number; mtimeNs: number; mode: number; uid: number; gid: number; }

export const readStatOf = (st: BigIntStats): ReadStat => ({
  size: Number(st.size), mtime: Number(st.mtimeNs / 1_000_000_000n), mtimeNs: Number(st.mtimeNs % 1_000_000_000n),
  mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid),
});

/** The same version of a file's content: any write or truncation moves the size, mtime or ctime. */
export const sameVersion = (a: BigIntStats, b: BigIntStats) => a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
