/**
 * Reads requests from /dev/fuse with blocking read(2), off the main thread
 * (Bun's event loop cannot wait on the device), and hands each one to the
 * main thread, which answers it. Ends when the kernel ends the connection
 * (ENODEV after unmount, ECONNABORTED/ENODEV after an abort).
 */
import { readSync } from "node:fs";

export interface ReaderStart { fd: number; bufferSize: number; }
/** Either one request (its exact bytes) or the end: error null is a clean end. */
export type ReaderMessage = Uint8Array | { end: true; error: string | null };

declare const self: Worker;

// Retried: a signal (EINTR), a request interrupted between poll and read (ENOENT).
const RETRY = new Set(["EINTR", "ENOENT", "EAGAIN"]);
const CLEAN_END = new Set(["ENODEV", "ECONNABORTED"]);

self.onmessage = (e: MessageEvent<ReaderStart>) => {
  const { fd, bufferSize } = e.data;
  const buf = new Uint8Array(bufferSize);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      const code = String((err as { code?: unknown }).code ?? "");
      if (RETRY.has(code)) continue;
      self.postMessage({ end: true, error: CLEAN_END.has(code) ? null : `${code || (err as Error).message}` } satisfies ReaderMessage);
      return;
    }
    if (n <= 0) {
      self.postMessage({ end: true, error: null } satisfies ReaderMessage);
      return;
    }
    const request = buf.slice(0, n);
    self.postMessage(request, [request.buffer]);
  }
};
