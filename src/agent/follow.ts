import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";
import { escapeName } from "../cli/output";

/** Bytes read from one file per poll, and the longest line echoed whole (a longer one is cut). */
const CHUNK = 1 << 20;
const LINE_MAX = 16 << 10;

/**
 * Echoes what commands append to their output files, line by line, each line
 * prefixed with the command (`[pilot.sh] …`), to stderr (the console at
 * boot). The commands write to the files, never to a pipe of the agent's, so
 * nothing breaks for them when the agent stops following and leaves.
 */
export class OutputFollower {
  private readonly files: { host: string; prefix: string; offset: number; partial: string; decoder: StringDecoder }[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly write: (s: string) => void = (s) => void process.stderr.write(s), private readonly intervalMs = 100) {}

  /** Follows `host` from `offset` (its size before the command started: earlier boots' output is not echoed again). */
  add(host: string, prefix: string, offset: number): void {
    this.files.push({ host, prefix, offset, partial: "", decoder: new StringDecoder("utf8") });
    // unref'd: the polling alone never keeps the agent alive (the commands it waits for do)
    this.timer ??= setInterval(() => this.poll(), this.intervalMs).unref();
  }

  /** Reads what is new in every file and echoes its complete lines. */
  poll(): void {
    for (const f of this.files) {
      let fd: number;
      try { fd = openSync(f.host, "r"); } catch { continue; }
      try {
        const size = fstatSync(fd).size;
        if (size < f.offset) f.offset = 0; // truncated meanwhile: start over
        while (f.offset < size) {
          const buf = Buffer.alloc(Math.min(CHUNK, size - f.offset));
          const n = readSync(fd, buf, 0, buf.length, f.offset);
          if (n <= 0) break;
          f.offset += n;
          this.lines(f, f.partial + f.decoder.write(buf.subarray(0, n)));
        }
      } finally {
        closeSync(fd);
      }
    }
  }

  private lines(f: { prefix: string; partial: string }, text: string): void {
    const parts = text.split("\n");
    f.partial = parts.pop()!;
    if (f.partial.length > LINE_MAX) { parts.push(f.partial.slice(0, LINE_MAX) + " [cut]"); f.partial = ""; }
    if (parts.length) this.write(parts.map((l) => `${f.prefix} ${escapeName(l.replace(/\r$/, ""))}\n`).join(""));
  }

  /** One file read to its end, an unfinished last line too (its command has ended). */
  finish(host: string): void {
    this.poll();
    for (const f of this.files) if (f.host === host && f.partial) { this.write(`${f.prefix} ${escapeName(f.partial)}\n`); f.partial = ""; }
  }

  /** Echoes a line of the agent's own under a command's prefix (its end). */
  say(prefix: string, text: string): void {
    this.write(`${prefix} ${text}\n`);
  }

  /** The last of every file echoed (an unfinished last line too), and no more polling. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.poll();
    for (const f of this.files) if (f.partial) { this.write(`${f.prefix} ${escapeName(f.partial)}\n`); f.partial = ""; }
  }
}
