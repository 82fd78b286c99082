// A stratum web server that misbehaves on request: it serves a repository
// storage as /cvmfs/<fqrn>/… and, for paths a rule matches, answers as a
// broken or malicious server would. Every stream it opens ends when the
// client goes away, and `stop()` ends the rest.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, normalize } from "node:path";
import { gzipSync } from "node:zlib";

export type Misbehaviour =
  | { kind: "gzip-bomb" }                                // 200, Content-Encoding: gzip, a small body that inflates to 256 MB
  | { kind: "endless" }                                  // 200, no length, bytes until the client hangs up
  | { kind: "trickle"; bytesPerTick: number; tickMs: number } // the real file, slowly but steadily
  | { kind: "stall"; after: number }                     // the first `after` bytes of the real file, then silence
  | { kind: "redirect"; location: string; status?: number }
  | { kind: "html" }                                     // 200 text/html: a captive portal
  | { kind: "status"; status: number }
  | { kind: "body"; bytes: Uint8Array }                  // 200 with these bytes instead of the file
  | { kind: "comment-lines"; bytes: number };            // 200, `bytes` of "#\n" lines, streamed

export interface HostileServer {
  base: string;                  // http://127.0.0.1:PORT/cvmfs/<fqrn>
  port: number;
  requests: string[];            // paths asked for, in order
  rule(match: (path: string) => boolean, m: Misbehaviour): void;
  clear(): void;
  stop(): void;
}

let bomb: Uint8Array | undefined;
const gzipBomb = () => (bomb ??= gzipSync(Buffer.alloc(256 << 20), { level: 9 }));

/** A stream that produces `next()` pieces every `tickMs` until `next` returns undefined or the client leaves. */
function paced(next: () => Uint8Array | undefined, tickMs: number, open: Set<() => void>): ReadableStream<Uint8Array> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let close: () => void = () => {};
  return new ReadableStream({
    start(controller) {
      close = () => { clearTimeout(timer); try { controller.close(); } catch { /* already closed */ } };
      open.add(close);
      const tick = () => {
        const piece = next();
        if (!piece) { open.delete(close); close(); return; }
        try { controller.enqueue(piece); } catch { open.delete(close); return; }
        timer = setTimeout(tick, tickMs);
      };
      tick();
    },
    cancel() { clearTimeout(timer); open.delete(close); },
  });
}

export function startHostileServer(storage: string, fqrn: string): HostileServer {
  const rules: { match: (p: string) => boolean; m: Misbehaviour }[] = [];
  const requests: string[] = [];
  const open = new Set<() => void>();
  const prefix = `/cvmfs/${fqrn}/`;

  const fileOf = (path: string) => {
    const file = normalize(join(storage, path));
    return file.startsWith(storage + "/") && existsSync(file) && statSync(file).isFile() ? file : undefined;
  };

  const misbehave = (m: Misbehaviour, path: string): Response => {
    switch (m.kind) {
      case "gzip-bomb":
        return new Response(gzipBomb(), { headers: { "Content-Encoding": "gzip", "Content-Type": "application/octet-stream" } });
      case "endless": {
        const piece = new Uint8Array(1 << 16).fill(0x41);
        return new Response(paced(() => piece, 0, open));
      }
      case "comment-lines": {
        const piece = new TextEncoder().encode("#\n".repeat(1 << 15));
        let sent = 0;
        return new Response(paced(() => (sent < m.bytes ? ((sent += piece.length), piece) : undefined), 0, open));
      }
      case "trickle":
      case "stall": {
        const file = fileOf(path);
        if (!file) return new Response("not found", { status: 404 });
        const data = readFileSync(file);
        let at = 0;
        if (m.kind === "trickle")
          return new Response(paced(() => (at < data.length ? data.subarray(at, (at += m.bytesPerTick)) : undefined), m.tickMs, open),
            { headers: { "Content-Length": String(data.length) } });
        let first = true;
        // After the first piece the stream stays open and silent until the client gives up.
        return new Response(paced(() => (first ? ((first = false), data.subarray(0, m.after)) : new Uint8Array(0)), 3_600_000, open),
          { headers: { "Content-Length": String(data.length) } });
      }
      case "redirect":
        return new Response(null, { status: m.status ?? 302, headers: { Location: m.location } });
      case "html":
        return new Response("<html><body>Please log in to the guest network</body></html>", { headers: { "Content-Type": "text/html" } });
      case "status":
        return new Response("broken", { status: m.status });
      case "body":
        return new Response(m.bytes);
    }
  };

  const server = Bun.serve({
    port: 0, hostname: "127.0.0.1", idleTimeout: 0,
    fetch(req) {
      const url = new URL(req.url);
      const path = decodeURIComponent(url.pathname);
      requests.push(path);
      if (!path.startsWith(prefix)) return new Response("not found", { status: 404 });
      const rel = path.slice(prefix.length);
      const rule = rules.find((r) => r.match(rel));
      if (rule) return misbehave(rule.m, rel);
      const file = fileOf(rel);
      return file ? new Response(Bun.file(file)) : new Response("not found", { status: 404 });
    },
  });

  return {
    base: `http://127.0.0.1:${server.port}/cvmfs/${fqrn}`,
    port: server.port!,
    requests,
    rule: (match, m) => { if (m.kind === "gzip-bomb") gzipBomb(); rules.unshift({ match, m }); }, // the bomb is made before anyone waits for it
    clear: () => { rules.length = 0; requests.length = 0; },
    stop: () => { for (const close of open) close(); server.stop(true); },
  };
}
