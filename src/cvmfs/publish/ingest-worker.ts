// Runs in a Worker. Three kinds of task: store a whole small file (opened,
// read and checked here); find the chunk cut points of a large file; store one
// byte range of a large file as an object. A large file is opened once by the
// pool and read through that descriptor by every task (no data crosses
// threads, and no task reopens the path, which may name another file by then).
import { closeSync, constants, existsSync, fstatSync, openSync, readSync, renameSync, unlinkSync, writeFileSync, type BigIntStats } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { errnoCode } from "../../cli/errors";
import { objectPath, toHex, type HashAlgorithm, type ObjectSuffix } from "../format/hash";
import { makeObject } from "../format/object";
import { Chunker, type ChunkingOptions } from "./chunker";
import { readStatOf, sameVersion, type ReadStat } from "./read-stat";
import { readFull } from "../../sys/read-full";

export type IngestTask =
  | { id: number; kind: "file"; file: string; maxSize: number | null }
  | { id: number; kind: "cuts"; file: string; fd: number; size: number }
  | { id: number; kind: "range"; file: string; fd: number; offset: number; length: number; suffix: ObjectSuffix };

export interface IngestSettings { storageDir: string; algorithm: HashAlgorithm; chunking: ChunkingOptions | null; }


export interface IngestReply {
  id: number;
  error?: { where: "source" | "storage" | "internal"; code?: string; message: string };
  changed?: string;    // the file changed while being read: why (the pool reads it again)
  grew?: boolean;      // file: now larger than maxSize, to be chunked instead
  hash?: string;       // file, range: the object's name (hex with algorithm tag)
  cuts?: number[];     // cuts: chunk end offsets, the last one = file size
  stat?: ReadStat;     // file
  storedBytes: number;
  newObject: boolean;
}

const READ_SIZE = 4 << 20;
declare const self: Worker;
let settings: IngestSettings;

// Which side failed decides how the pool names it: the source file, or the storage.
class SourceFailure extends Error { constructor(override readonly cause: unknown) { super(String(cause)); } }
class StorageFailure extends Error { constructor(override readonly cause: unknown) { super(String(cause)); } }
class Changed extends Error {}

function readRange(fd: number, offset: number, length: number): Uint8Array {
  const data = new Uint8Array(length);
  let got: number;
  try { got = readFull(fd, data, offset); } catch (err) { throw new SourceFailure(err); }
  if (got < length) throw new Changed(`it shrank below ${offset + length} bytes`);
  return data;
}

function fstat(fd: number): BigIntStats {
  try { return fstatSync(fd, { bigint: true }); } catch (err) { throw new SourceFailure(err); }
}

function store(data: Uint8Array, suffix: ObjectSuffix, reply: IngestReply): void {
  const obj = makeObject(data, settings.algorithm);
  reply.hash = toHex(obj.hash);
  const final = join(settings.storageDir, objectPath(obj.hash, suffix));
  if (existsSync(final)) return; // content-addressed: already there, never rewritten
  // Complete under a temporary name first: a killed publisher never leaves half an object under its real name.
  // No fsync per object: the publisher makes them all durable with one syncfs before any catalog names them.
  const tmp = join(settings.storageDir, "data", "txn", `${process.pid}.${randomBytes(6).toString("hex")}`);
  try {
    writeFileSync(tmp, obj.bytes, { mode: 0o644 });
    renameSync(tmp, final);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* never created */ }
    throw new StorageFailure(err);
  }
  reply.newObject = true;
  reply.storedBytes = obj.bytes.length;
}

function storeFile(t: Extract<IngestTask, { kind: "file" }>, reply: IngestReply): void {
  let fd: number;
  try { fd = openSync(t.file, constants.O_RDONLY | constants.O_NOFOLLOW); } catch (err) { throw new SourceFailure(err); }
  try {
    const before = fstat(fd);
    if (!before.isFile()) throw new Changed("it is no longer a regular file");
    reply.stat = readStatOf(before);
    if (t.maxSize !== null && reply.stat.size > t.maxSize) { reply.grew = true; return; }
    const data = readRange(fd, 0, reply.stat.size);
    if (!sameVersion(before, fstat(fd))) throw new Changed("its size or modification time moved");
    store(data, "", reply);
  } finally {
    closeSync(fd);
  }
}

function findCuts(t: Extract<IngestTask, { kind: "cuts" }>): number[] {
  const chunker = new Chunker(settings.chunking!);
  const cuts: number[] = [];
  const buf = new Uint8Array(READ_SIZE);
  let pos = 0;
  for (;;) {
    let n: number;
    try { n = readSync(t.fd, buf, 0, READ_SIZE, pos); } catch (err) { throw new SourceFailure(err); }
    if (n === 0) break;
    cuts.push(...chunker.push(n === READ_SIZE ? buf : buf.subarray(0, n)));
    pos += n;
  }
  if (pos !== t.size) throw new Changed(`its size moved (${t.size} → ${pos} bytes)`);
  if (cuts[cuts.length - 1] !== pos) cuts.push(pos);
  return cuts;
}

self.onmessage = (e: MessageEvent) => {
  const msg = e.data as { settings?: IngestSettings; tasks?: IngestTask[] };
  if (msg.settings) settings = msg.settings;
  if (!msg.tasks) return;
  self.postMessage(msg.tasks.map((t): IngestReply => {
    const reply: IngestReply = { id: t.id, storedBytes: 0, newObject: false };
    try {
      if (t.kind === "cuts") reply.cuts = findCuts(t);
      else if (t.kind === "file") storeFile(t, reply);
      else store(readRange(t.fd, t.offset, t.length), t.suffix, reply);
    } catch (err) {
      if (err instanceof Changed) reply.changed = err.message;
      else if (err instanceof SourceFailure || err instanceof StorageFailure)
        reply.error = { where: err instanceof SourceFailure ? "source" : "storage", code: errnoCode(err.cause), message: String((err.cause as Error)?.message ?? err.cause) };
      else reply.error = { where: "internal", message: (err as Error).message };
    }
    return reply;
  }));
};
