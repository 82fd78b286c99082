import type { HashAlgorithm } from "../format/hash";
import type { FileContent } from "./catalogs";
import type { ChunkingOptions } from "./chunker";
import { IngestPool } from "./ingest-pool";
import type { PreviousRevision } from "./previous";
import type { ReadStat } from "./read-stat";
import { hardlinkGroups, type SourceNode } from "./tree";

export interface ContentProgress { files: number; totalFiles: number; bytes: number; totalBytes: number; }

export interface ContentOutcome {
  content: Map<string, FileContent>;   // by repository path, every regular file
  filesIngested: number;
  filesReused: number;
  newObjects: number;
  storedBytes: number;
}

function regularFiles(root: SourceNode): SourceNode[] {
  const files: SourceNode[] = [];
  const visit = (n: SourceNode) => { if (n.kind === "file") files.push(n); n.children?.forEach(visit); };
  visit(root);
  return files;
}

/** Unchanged size and mtime (to the nanosecond, when known) reuse the previous revision's content. */
function reusable(f: SourceNode, previous: PreviousRevision | undefined): FileContent | undefined {
  const prev = previous?.files.get(f.path);
  const d = prev?.dirent;
  if (!prev || !d || d.size !== f.size || d.mtime !== f.mtime || (d.mtimeNs !== undefined && d.mtimeNs !== f.mtimeNs)) return undefined;
  return { hash: d.hash, compressed: d.compressed, chunks: d.chunked ? prev.reader.chunks(f.path) : undefined };
}

/** The catalog records the version that was read, which may be newer than what the scan saw. */
function applyStat(n: SourceNode, s: ReadStat): void {
  Object.assign(n, { size: s.size, mtime: s.mtime, mtimeNs: s.mtimeNs, mode: s.mode, uid: s.uid, gid: s.gid });
}

/**
 * Every regular file's content: reused from the previous revision when it
 * looks unchanged (unless `checksum`), else read and stored, once per
 * hardlinked inode, on every core.
 */
export async function publishContent(root: SourceNode, previous: PreviousRevision | undefined,
  o: { storage: string; algorithm: HashAlgorithm; chunking: ChunkingOptions | null; checksum: boolean },
  progress?: (p: ContentProgress) => void): Promise<ContentOutcome> {
  const files = regularFiles(root);
  const content = new Map<string, FileContent>();
  const toRead: SourceNode[] = [];
  for (const f of files) {
    const kept = o.checksum ? undefined : reusable(f, previous);
    if (kept) content.set(f.path, kept);
    else toRead.push(f);
  }

  // Names of one hardlinked inode are read once, through the first of them.
  const others = new Map<SourceNode, SourceNode[]>();
  for (const [first, ...rest] of hardlinkGroups(toRead).values()) others.set(first, rest);
  const skip = new Set([...others.values()].flat());
  const unique = toRead.filter((f) => !skip.has(f));

  const outcome: ContentOutcome = { content, filesIngested: toRead.length, filesReused: files.length - toRead.length, newObjects: 0, storedBytes: 0 };
  const p: ContentProgress = { files: 0, totalFiles: unique.length, bytes: 0, totalBytes: unique.reduce((s, f) => s + f.size, 0) };
  const pool = IngestPool.create({
    storageDir: o.storage, algorithm: o.algorithm, chunking: o.chunking,
    hooks: { stored: (_file, bytes) => { p.bytes += bytes; progress?.(p); } },
  });
  try {
    await Promise.all(unique.map(async (f) => {
      const r = await pool.ingest(f.abs, f.size);
      outcome.newObjects += r.newObjects;
      outcome.storedBytes += r.storedBytes;
      p.files++;
      progress?.(p);
      for (const n of [f, ...(others.get(f) ?? [])]) {
        applyStat(n, r.stat);
        content.set(n.path, { hash: r.hash, chunks: r.chunks, compressed: true });
      }
    }));
  } finally {
    await pool.close();
  }
  return outcome;
}
