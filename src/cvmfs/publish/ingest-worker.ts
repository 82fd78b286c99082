// Runs in a Worker: reads a file, cuts it into chunks, compresses and hashes
// each piece, and stores the objects that are not in the storage yet.
import { closeSync, existsSync, openSync, readSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { objectPath, toHex, type HashAlgorithm, type ObjectSuffix } from "../hash";
import { makeObject } from "../object";
import { Chunker, type ChunkingOptions } from "./chunker";

export interface IngestTask { id: number; file: string; size: number; }
export interface IngestSettings { storageDir: string; algorithm: HashAlgorithm; chunking: ChunkingOptions | null; }
export interface IngestReply {
  id: number;
  error?: string;
  bulk?: string;
  chunks?: { offset: number; size: number; hash: string }[];
  storedBytes: number;
  newObjects: number;
  reusedObjects: number;
}

const READ_SIZE = 4 << 20;
declare const self: Worker;

function store(s: IngestSettings, data: Uint8Array, suffix: ObjectSuffix, reply: IngestReply): string {
  const obj = makeObject(data, s.algorithm);
  const final = join(s.storageDir, objectPath(obj.hash, suffix));
  if (existsSync(final)) reply.reusedObjects++;
  else {
    // Complete under a temporary name first: a killed publisher never leaves half an object under its real name.
    const tmp = join(s.storageDir, "data", "txn", `${process.pid}.${randomBytes(6).toString("hex")}`);
    writeFileSync(tmp, obj.bytes, { mode: 0o644 });
    renameSync(tmp, final);
    reply.newObjects++;
    reply.storedBytes += obj.bytes.length;
  }
  return toHex(obj.hash);
}

function ingest(s: IngestSettings, t: IngestTask): IngestReply {
  const reply: IngestReply = { id: t.id, storedBytes: 0, newObjects: 0, reusedObjects: 0 };
  const fd = openSync(t.file, "r");
  try {
    if (!s.chunking || t.size <= s.chunking.min) {
      const data = new Uint8Array(t.size);
      for (let off = 0; off < t.size; ) {
        const n = readSync(fd, data, off, t.size - off, off);
        if (n === 0) throw new Error("the file shrank while being read");
        off += n;
      }
      reply.bulk = store(s, data, "", reply);
      return reply;
    }
    const chunker = new Chunker(s.chunking);
    const chunks: NonNullable<IngestReply["chunks"]> = [];
    // The first piece waits until a second exists: a file that turns out to be
    // one piece is stored as an ordinary whole-file object, as upstream does.
    let first: { offset: number; data: Uint8Array } | undefined;
    const emit = (offset: number, data: Uint8Array) => {
      if (!first && !chunks.length) { first = { offset, data }; return; }
      if (first) { chunks.push({ offset: first.offset, size: first.data.length, hash: store(s, first.data, "P", reply) }); first = undefined; }
      chunks.push({ offset, size: data.length, hash: store(s, data, "P", reply) });
    };
    let pending: Uint8Array[] = [];
    let pendingStart = 0;
    let pos = 0;
    const buf = new Uint8Array(READ_SIZE);
    const cutAt = (end: number) => {
      const joined = Buffer.concat(pending);
      emit(pendingStart, new Uint8Array(joined.subarray(0, end - pendingStart)));
      const rest = joined.subarray(end - pendingStart);
      pending = rest.length ? [new Uint8Array(rest)] : [];
      pendingStart = end;
    };
    for (;;) {
      const n = readSync(fd, buf, 0, READ_SIZE, pos);
      if (n === 0) break;
      const piece = buf.slice(0, n);
      pending.push(piece);
      for (const cut of chunker.push(piece)) cutAt(cut);
      pos += n;
    }
    if (pos !== t.size) throw new Error(`the file changed size while being read (${t.size} → ${pos} bytes)`);
    if (pos > pendingStart) cutAt(pos);
    if (first) reply.bulk = store(s, first.data, "", reply);
    else reply.chunks = chunks;
    return reply;
  } finally {
    closeSync(fd);
  }
}

let settings: IngestSettings | undefined;
self.onmessage = (e: MessageEvent) => {
  const msg = e.data as { settings?: IngestSettings; tasks?: IngestTask[] };
  if (msg.settings) settings = msg.settings;
  if (!msg.tasks) return;
  const replies = msg.tasks.map((t) => {
    try {
      return ingest(settings!, t);
    } catch (err) {
      return { id: t.id, error: `${t.file}: ${(err as Error).message}`, storedBytes: 0, newObjects: 0, reusedObjects: 0 };
    }
  });
  self.postMessage(replies);
};
