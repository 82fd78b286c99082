// Runs in a Worker. Three kinds of task, all reading the file themselves by
// offset (no data crosses threads): store a whole small file; find the chunk
// cut points of a large file; store one byte range of a file as an object.
import { closeSync, existsSync, openSync, readSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { objectPath, toHex, type HashAlgorithm, type ObjectSuffix } from "../hash";
import { makeObject } from "../object";
import { Chunker, type ChunkingOptions } from "./chunker";

export type IngestTask =
  | { id: number; kind: "range"; file: string; offset: number; length: number; suffix: ObjectSuffix }
  | { id: number; kind: "cuts"; file: string; size: number };

export interface IngestSettings { storageDir: string; algorithm: HashAlgorithm; chunking: ChunkingOptions | null; }

export interface IngestReply {
  id: number;
  error?: string;
  hash?: string;       // range: the object's name (hex with algorithm tag)
  cuts?: number[];     // cuts: chunk end offsets, the last one = file size
  storedBytes: number;
  newObject: boolean;
}

const READ_SIZE = 4 << 20;
declare const self: Worker;
let settings: IngestSettings;

function readRange(fd: number, offset: number, length: number): Uint8Array {
  const data = new Uint8Array(length);
  for (let done = 0; done < length; ) {
    const n = readSync(fd, data, done, length - done, offset + done);
    if (n === 0) throw new Error("the file shrank while being read");
    done += n;
  }
  return data;
}

function storeRange(t: Extract<IngestTask, { kind: "range" }>, reply: IngestReply): void {
  const fd = openSync(t.file, "r");
  let data: Uint8Array;
  try {
    data = readRange(fd, t.offset, t.length);
  } finally {
    closeSync(fd);
  }
  const obj = makeObject(data, settings.algorithm);
  reply.hash = toHex(obj.hash);
  const final = join(settings.storageDir, objectPath(obj.hash, t.suffix));
  if (existsSync(final)) return; // content-addressed: already there, never rewritten
  // Complete under a temporary name first: a killed publisher never leaves half an object under its real name.
  // No fsync per object: the publisher makes them all durable with one syncfs before any catalog names them.
  const tmp = join(settings.storageDir, "data", "txn", `${process.pid}.${randomBytes(6).toString("hex")}`);
  writeFileSync(tmp, obj.bytes, { mode: 0o644 });
  renameSync(tmp, final);
  reply.newObject = true;
  reply.storedBytes = obj.bytes.length;
}

function findCuts(t: Extract<IngestTask, { kind: "cuts" }>): number[] {
  const chunker = new Chunker(settings.chunking!);
  const cuts: number[] = [];
  const fd = openSync(t.file, "r");
  try {
    const buf = new Uint8Array(READ_SIZE);
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, READ_SIZE, pos);
      if (n === 0) break;
      cuts.push(...chunker.push(n === READ_SIZE ? buf : buf.subarray(0, n)));
      pos += n;
    }
    if (pos !== t.size) throw new Error(`the file changed size while being read (${t.size} → ${pos} bytes)`);
    if (cuts[cuts.length - 1] !== pos) cuts.push(pos);
    return cuts;
  } finally {
    closeSync(fd);
  }
}

self.onmessage = (e: MessageEvent) => {
  const msg = e.data as { settings?: IngestSettings; tasks?: IngestTask[] };
  if (msg.settings) settings = msg.settings;
  if (!msg.tasks) return;
  self.postMessage(msg.tasks.map((t): IngestReply => {
    const reply: IngestReply = { id: t.id, storedBytes: 0, newObject: false };
    try {
      if (t.kind === "cuts") reply.cuts = findCuts(t);
      else storeRange(t, reply);
    } catch (err) {
      reply.error = `${t.file}: ${(err as Error).message}`;
    }
    return reply;
  }));
};
