import { readSync } from "node:fs";

/**
 * Fills `buf` from `fd` until it is full or the file ends (read(2) may return
 * less than asked at any time); returns how many bytes it holds. From the
 * file's current offset, or from `position` on when one is given (pread).
 */
export function readFull(fd: number, buf: Uint8Array, position: number | null = null): number {
  let at = 0;
  while (at < buf.length) {
    const n = readSync(fd, buf, at, buf.length - at, position === null ? null : position + at);
    if (n === 0) break;
    at += n;
  }
  return at;
}
