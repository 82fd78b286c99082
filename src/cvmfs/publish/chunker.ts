import { createHash } from "node:crypto";

/** Content-defined chunking, as upstream's defaults: 4 / 8 / 16 MiB min / average / max (spec §3). */
export interface ChunkingOptions { min: number; avg: number; max: number; }
export const DEFAULT_CHUNKING: ChunkingOptions = { min: 4 << 20, avg: 8 << 20, max: 16 << 20 };

// A fixed table of 256 pseudo-random 32-bit values (from SHA-256 of the index):
// the same bytes always give the same cut points, on every machine.
const GEAR = new Uint32Array(256);
for (let i = 0; i < 256; i++) GEAR[i] = createHash("sha256").update(`cvm-gear-${i}`).digest().readUInt32LE(0);

/**
 * Finds cut points with a gear rolling hash (the hash depends on the last 32
 * bytes only, so an edit moves cuts only near it). After `min` bytes, a cut
 * falls where the hash's top bits are zero, making the expected chunk about
 * `avg` bytes; `max` forces a cut. Fed buffer by buffer; never holds the file.
 */
export class Chunker {
  private pos = 0;          // bytes seen so far
  private start = 0;        // where the current chunk began
  private hash = 0;
  private readonly mask: number;

  constructor(private readonly o: ChunkingOptions = DEFAULT_CHUNKING) {
    if (!(o.min > 0 && o.min <= o.avg && o.avg <= o.max)) throw new Error(`bad chunking sizes ${o.min}/${o.avg}/${o.max}`);
    const bits = Math.max(1, Math.round(Math.log2(Math.max(2, o.avg - o.min))));
    this.mask = bits >= 32 ? -1 : (-1 << (32 - bits)); // the top bits, as an int32 like the hash
  }

  /** Absolute offsets where chunks end within this buffer. */
  push(buf: Uint8Array): number[] {
    const cuts: number[] = [];
    const { min, max } = this.o;
    let i = 0;
    while (i < buf.length) {
      const inChunk = this.pos + i - this.start;
      if (inChunk < min - 64) { // bytes that cannot end a chunk need no hashing, except the last 64 that seed the hash
        i += Math.min(buf.length - i, min - 64 - inChunk);
        continue;
      }
      // Scan to the forced cut at `max` (or the buffer's end) testing only the mask:
      // this loop is the chunker's whole cost, so it does nothing else.
      let h = this.hash;
      const mask = this.mask;
      const untilMax = this.start + max - this.pos;
      const limit = Math.min(buf.length, untilMax);
      const firstCut = this.start + min - this.pos; // no cut before min
      for (; i < limit; i++) {
        h = ((h << 1) + GEAR[buf[i]]) | 0;
        if ((h & mask) === 0 && i + 1 >= firstCut) break;
      }
      if (i < limit || limit === untilMax) {
        if (i >= limit) i = limit - 1; // forced cut at max
        const cut = this.pos + i + 1;
        cuts.push(cut);
        this.start = cut;
        h = 0;
        i++;
      }
      this.hash = h;
    }
    this.pos += buf.length;
    return cuts;
  }
}
