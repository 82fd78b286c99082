import { closeSync, existsSync } from "node:fs";
import { createHash } from "node:crypto";
import type { Socket, TCPSocketListener } from "bun";
import { CvmError, errnoCode } from "../../cli/errors";
import { geoAnswer, thisHost } from "./geo";
import { freshFor, httpDate, GEO_ERROR_MAX_AGE, GEO_MAX_AGE, JSON_TYPE, noneMatch, OBJECT_MAX_AGE, OBJECT_TYPE, ROOT_FILE_TYPE, SHORT_MAX_AGE } from "./headers";
import { fileOpener, readWhole, type OpenFile } from "./open-file";
import { parseRange } from "./range";
import { parseRequestPath, rawPathOf } from "./request-path";
import { nameStorages, type ServedStorage } from "./storages";
import { parseHead, MAX_HEAD, type RequestHead } from "./http-request";
import { ConnectionLimits, DEFAULT_CAPS, type ConnectionCaps } from "./connection-limits";
import { readFull } from "../../sys/read-full";
import { CACHED_OBJECT_MAX, ObjectCache } from "./object-cache";

/**
 * A stratum web server (cvm serve): repository storages under
 * /cvmfs/<fqrn>/, as a stratum 0 or 1 must serve them (request-path.ts says
 * what is reachable, headers.ts how long it may be cached, open-file.ts how
 * requests are kept inside the storage), plus the geo API and the
 * repository list.
 *
 * It speaks HTTP/1.1 on Bun's TCP sockets itself, so that what a client can
 * cost is bounded: connections are capped in all and per client address
 * (connection-limits.ts), a connection that makes no progress for
 * `idleTimeout` seconds (no request, or a reader that takes nothing) is
 * closed, and a file is sent in pieces read into one buffer the whole
 * server shares, each piece only when the socket has taken the last: a
 * slow reader holds a descriptor and an offset, not the file's bytes.
 */
export interface ServeOptions {
  storages: string[];
  hostname?: string;                // default 127.0.0.1
  port?: number;                    // default 8000; 0 picks a free one
  log?: (line: string) => void;     // one line per request (cvm serve -v)
  notice?: (line: string) => void;  // what the operator must know (a connection cap reached)
  caps?: ConnectionCaps;            // default DEFAULT_CAPS
  idleTimeout?: number;             // seconds without progress before a connection is closed [60]
  reusePort?: boolean;              // share the port with other processes (cvm serve --workers)
  objectCacheBytes?: number;        // small data objects kept in memory [DEFAULT_OBJECT_CACHE]; 0: none
}

export interface StratumServer {
  readonly base: string;            // http://127.0.0.1:8000
  readonly port: number;
  readonly repositories: readonly ServedStorage[];
  /** http://host:port/cvmfs/<fqrn> */
  url(fqrn: string): string;
  /** Stops accepting, lets answers in flight finish (2 s at most), closes every connection. */
  stop(): Promise<void>;
}

export const DEFAULT_HOSTNAME = "127.0.0.1";
export const DEFAULT_PORT = 8000;
export const DEFAULT_IDLE_TIMEOUT = 60;
export const DEFAULT_OBJECT_CACHE = 32 << 20;

// Root files up to this size are hashed for their ETag.
const SMALL = 1 << 20;
// Bodies up to this size go out in one write with their head; bigger ones are sent from the file piece by piece.
const INLINE = 64 << 10;
// The one buffer pieces are read into (shared: a slow reader holds none of it); a piece the socket does not take
// whole is read again when it drains.
const PIECE = 1 << 20;
const scratch = Buffer.allocUnsafe(PIECE);
// At most this much is sent to one connection before the others get a turn.
const BURST = 4 * PIECE;

const REASON: Record<number, string> = {
  200: "OK", 206: "Partial Content", 304: "Not Modified", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
  416: "Range Not Satisfiable", 431: "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable", 505: "HTTP Version Not Supported",
};

/** An answer: status, header lines (each ending CRLF), and a body from memory or from a file. */
interface Reply {
  status: number;
  headers: string;
  length: number;                                      // Content-Length
  body?: Buffer;
  file?: { f: OpenFile; start: number };               // `length` bytes from `start`
  noBody?: boolean;                                    // HEAD, 304: Content-Length says what GET would send
  noLength?: boolean;                                  // 304: no Content-Length at all
}

const headerLines = (h: Record<string, string>) => {
  let out = "";
  for (const k in h) out += `${k}: ${h[k]}\r\n`;
  return out;
};

const text = (status: number, body: string, headers: Record<string, string> = {}): Reply => {
  const bytes = Buffer.from(body);
  return { status, headers: headerLines({ "Content-Type": "text/plain; charset=utf-8", ...headers }), length: bytes.length, body: bytes };
};

/** What one connection is doing. */
interface Conn {
  client: string;
  admitted: boolean;
  input: Buffer | null;                                // received, not yet parsed
  out: Buffer | null;                                  // the part of an in-memory answer the socket has not taken
  file: { f: OpenFile; at: number; end: number } | null;
  busy: boolean;                                       // an answer is under way
  closeAfter: boolean;
  paused: boolean;
  lastProgress: number;                                // Date.now() when bytes last went either way
}

type Sock = Socket<Conn>;

export function startStratumServer(o: ServeOptions): StratumServer {
  const storages = nameStorages(o.storages);
  const openers = new Map(storages.map((s) => [s.fqrn, fileOpener(s.root)]));
  const byName = new Map(storages.map((s) => [s.fqrn, s]));
  const host = thisHost();
  const hostname = o.hostname ?? DEFAULT_HOSTNAME;
  const idle = o.idleTimeout ?? DEFAULT_IDLE_TIMEOUT;
  const limits = new ConnectionLimits(o.caps ?? DEFAULT_CAPS, o.notice ?? (() => {}));
  const sockets = new Set<Sock>();
  const cacheBytes = o.objectCacheBytes ?? DEFAULT_OBJECT_CACHE;
  const cache = cacheBytes > 0 ? new ObjectCache(cacheBytes) : undefined;
  // Small root files as last read, with their ETag, while the file stays the same version (stat'ed each time).
  const rootFiles = new Map<string, { version: string; bytes: Buffer; etag: string }>();
  // Idle connections are found by a sweep each second (Bun's own socket timeouts tick in 4 s steps and fire on
  // the next tick whatever the socket did since); progress only notes the time.
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const s of sockets) if (now - s.data.lastProgress > idle * 1000) s.terminate();
  }, 1000);
  sweep.unref();
  const busyBytes = Buffer.from(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\nRetry-After: 10\r\nConnection: close\r\n\r\ntoo many connections`);

  const answer = (h: RequestHead, client: string): Reply => {
    if (h.method !== "GET" && h.method !== "HEAD") return text(405, "only GET and HEAD\n", { Allow: "GET, HEAD" });
    const t = parseRequestPath(rawPathOf(h.target));
    switch (t.kind) {
      case "refused":
        return text(t.status, t.status === 400 ? `bad request: ${t.why}\n` : "not found\n");
      case "repositories":
        return repositoryList(storages);
      case "geo": {
        if (!byName.has(t.fqrn)) return text(404, "not found\n");
        const a = geoAnswer({ proxy: t.proxy, servers: t.servers, remoteAddress: client }, host);
        return text(a.status, a.body, freshFor(a.status === 200 ? GEO_MAX_AGE : GEO_ERROR_MAX_AGE));
      }
      case "object": {
        const key = `${t.fqrn}/${t.rel}`;
        const now = Date.now();
        const hit = cache?.get(key, now);
        if (hit) return fileReply(h, { size: hit.bytes.length, mtimeMs: hit.mtimeMs, whole: hit.bytes }, t.name);
        const f = openers.get(t.fqrn)?.open(t.rel);
        if (!f) return text(404, "not found\n");
        if (!cache || f.size > CACHED_OBJECT_MAX) return fileReply(h, { size: f.size, mtimeMs: f.mtimeMs, f }, t.name);
        const bytes = readWhole(f);
        cache.set(key, bytes, f.mtimeMs, now);
        return fileReply(h, { size: bytes.length, mtimeMs: f.mtimeMs, whole: bytes }, t.name);
      }
      case "root-file": {
        const f = openers.get(t.fqrn)?.open(t.rel);
        if (!f) return text(404, "not found\n");
        if (f.size > SMALL) return fileReply(h, { size: f.size, mtimeMs: f.mtimeMs, f }, undefined);
        const key = `${t.fqrn}/${t.rel}`;
        const known = rootFiles.get(key);
        if (known && known.version === f.version) {
          closeSync(f.fd);
          return fileReply(h, { size: known.bytes.length, mtimeMs: f.mtimeMs, whole: known.bytes, etag: known.etag }, undefined);
        }
        // hashed for its ETag (it changes in place); past INLINE still sent from the file, not held for a slow reader
        const whole = Buffer.allocUnsafe(f.size);
        const got = readFull(f.fd, whole, 0);
        const etag = `"${createHash("sha1").update(whole.subarray(0, got)).digest("hex")}"`;
        if (got > INLINE) return fileReply(h, { size: got, mtimeMs: f.mtimeMs, f, etag }, undefined);
        closeSync(f.fd);
        if (got === f.size) {
          if (rootFiles.size >= 1024) rootFiles.clear(); // a few per repository; bounded all the same
          rootFiles.set(key, { version: f.version, bytes: whole, etag });
        }
        return fileReply(h, { size: got, mtimeMs: f.mtimeMs, whole: whole.subarray(0, got), etag }, undefined);
      }
    }
  };

  /** Sends what the socket takes of the answer under way; true once it is all sent. */
  const pump = (s: Sock, c: Conn): boolean => {
    if (c.out) {
      const n = s.write(c.out);
      if (n < 0) return false;
      if (n < c.out.length) { c.out = c.out.subarray(n); return false; }
      c.out = null;
    }
    let sent = 0;
    while (c.file) {
      if (sent >= BURST) {
        // the socket still takes more, but others wait their turn: go on after them
        setImmediate(() => { if (c.busy && c.file && pump(s, c)) finished(s, c, true); });
        return false;
      }
      const { f } = c.file;
      const want = Math.min(PIECE, c.file.end - c.file.at);
      const got = want > 0 ? readFull(f.fd, scratch.subarray(0, want), c.file.at) : 0;
      if (got === 0) {
        // shorter than announced: end the answer short (the client sees the length mismatch)
        closeFile(c);
        if (want > 0) c.closeAfter = true;
        break;
      }
      const n = s.write(scratch, 0, got);
      if (n < 0) return false;
      c.file.at += n;
      sent += n;
      if (c.file.at >= c.file.end) closeFile(c);
      else if (n < got) return false;
    }
    return true;
  };

  const closeFile = (c: Conn) => {
    if (c.file) { closeSync(c.file.f.fd); c.file = null; }
  };

  /** The answer is out: close, or (`more`, after a drain) go on with requests already received. */
  const finished = (s: Sock, c: Conn, more: boolean) => {
    c.busy = false;
    if (c.closeAfter) { c.input = null; s.end(); return; }
    if (c.paused) { c.paused = false; s.resume(); }
    if (more && c.input) serveInput(s, c);
  };

  const send = (s: Sock, c: Conn, r: Reply, keepAlive: boolean) => {
    c.closeAfter = !keepAlive;
    let head = `HTTP/1.1 ${r.status} ${REASON[r.status]}\r\n${r.headers}`;
    if (!r.noLength) head += `Content-Length: ${r.length}\r\n`;
    head += `Date: ${httpDate(Date.now())}\r\nConnection: ${keepAlive ? "keep-alive" : "close"}\r\n\r\n`;
    const headLength = head.length; // latin1: one byte a character
    const bodyLength = r.noBody ? 0 : r.length;
    let whole: Buffer | null = null;
    if (r.file && (r.noBody || r.length <= INLINE)) {
      // small: read straight after the head, one write for both
      whole = Buffer.allocUnsafe(headLength + bodyLength);
      whole.write(head, 0, "latin1");
      if (bodyLength > 0) {
        const got = readFull(r.file.f.fd, whole.subarray(headLength), r.file.start);
        if (got < bodyLength) { whole = whole.subarray(0, headLength + got); c.closeAfter = true; }
      }
      closeSync(r.file.f.fd);
    } else if (r.file) {
      whole = Buffer.from(head, "latin1");
      c.file = { f: r.file.f, at: r.file.start, end: r.file.start + r.length };
    } else {
      whole = Buffer.allocUnsafe(headLength + (r.body && !r.noBody ? r.body.length : 0));
      whole.write(head, 0, "latin1");
      if (r.body && !r.noBody) r.body.copy(whole, headLength);
    }
    c.out = whole;
    c.busy = true;
    if (pump(s, c)) finished(s, c, false); // serveInput's loop goes on with the next request
  };

  /** Answers each complete request received, in order, while nothing else is being sent. */
  const serveInput = (s: Sock, c: Conn) => {
    while (c.input && !c.busy) {
      const h = parseHead(c.input);
      if (h === "incomplete") return;
      if ("bad" in h) {
        c.input = null;
        send(s, c, text(h.status, `bad request: ${h.bad}\n`), false);
        return;
      }
      c.input = h.length < c.input.length ? c.input.subarray(h.length) : null;
      const started = o.log ? performance.now() : 0;
      let r: Reply;
      try {
        r = answer(h, c.client);
      } catch (err) {
        r = text(500, "internal error\n");
        o.log?.(`error: ${h.method} ${rawPathOf(h.target)}: ${(err as Error).message}`);
      }
      if (o.log) o.log(`${c.client} ${h.method} ${rawPathOf(h.target)} ${r.status} ${r.noLength ? "-" : r.length} ${(performance.now() - started).toFixed(1)}ms`);
      if (h.hasBody) c.input = null; // its body is not read: answer, then close
      send(s, c, r, h.keepAlive && !h.hasBody);
    }
  };

  let listener: TCPSocketListener<Conn>;
  try {
    listener = Bun.listen<Conn>({
      hostname,
      port: o.port ?? DEFAULT_PORT,
      exclusive: !o.reusePort,
      ...(o.reusePort ? { reusePort: true } : {}),
      socket: {
        open(s) {
          const c: Conn = { client: s.remoteAddress, admitted: false, input: null, out: null, file: null, busy: false, closeAfter: false, paused: false, lastProgress: Date.now() };
          s.data = c;
          if (!limits.admit(c.client)) {
            s.timeout(8); // a refused client that never closes its side is dropped all the same
            s.end(busyBytes);
            return;
          }
          c.admitted = true;
          sockets.add(s);
        },
        data(s, chunk) {
          const c = s.data;
          if (!c.admitted) return;
          c.lastProgress = Date.now();
          c.input = c.input ? Buffer.concat([c.input, chunk]) : chunk;
          if (!c.busy) serveInput(s, c);
          // what waits (a head not yet complete, requests behind an answer under way) is copied: the chunk is Bun's
          if (c.input && c.input.buffer === chunk.buffer) c.input = Buffer.from(c.input);
          // a client that sends requests faster than it takes the answers waits (TCP holds the rest)
          if (c.busy && c.input && c.input.length > MAX_HEAD && !c.paused) { c.paused = true; s.pause(); }
        },
        drain(s) {
          const c = s.data;
          if (!c.busy) return;
          c.lastProgress = Date.now();
          if (pump(s, c)) finished(s, c, true);
        },
        timeout(s) {
          s.terminate();
        },
        error() { /* close follows */ },
        close(s) {
          const c = s.data;
          closeFile(c);
          c.out = null; c.input = null;
          if (c.admitted) { c.admitted = false; limits.release(c.client); sockets.delete(s); }
        },
      },
    });
  } catch (err) {
    for (const opener of openers.values()) opener.close();
    const where = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${o.port ?? DEFAULT_PORT}`;
    const code = errnoCode(err) ?? (err as { code?: string }).code;
    const message = (err as Error).message ?? "";
    if (code === "EADDRINUSE" || /in use/i.test(message)) throw new CvmError(`${where}: address already in use; choose another with --listen HOST:PORT (port 0 picks a free one)`);
    if (code === "EACCES" || /permission denied/i.test(message)) throw new CvmError(`${where}: permission denied (ports below 1024 need root)`);
    if (code === "EADDRNOTAVAIL" || /not available/i.test(message)) throw new CvmError(`${where}: not an address of this machine`);
    throw new CvmError(`${where}: cannot listen: ${message.split("\n")[0]}`);
  }
  const port = listener.port;
  const shown = hostname === "0.0.0.0" || hostname === "::" ? host.names.values().next().value! : hostname;
  const base = `http://${shown.includes(":") ? `[${shown}]` : shown}:${port}`;
  return {
    base,
    port,
    repositories: storages,
    url: (fqrn) => `${base}/cvmfs/${fqrn}`,
    async stop() {
      clearInterval(sweep);
      listener.stop(false);
      const deadline = Date.now() + 2000;
      while (Date.now() < deadline && [...sockets].some((s) => s.data.busy)) await Bun.sleep(20);
      for (const s of sockets) s.terminate();
      listener.stop(true);
      for (const opener of openers.values()) opener.close();
    },
  };
}

/**
 * A file's answer: caching headers, a validator that is the same on every
 * replica (an object's name is its content hash; a small root file is hashed
 * as it is read), and one byte range when asked for. If-Modified-Since is
 * not honoured, as upstream's Apache configuration drops it: replicas write
 * the same file at different times, so a date cannot say whether a copy is
 * current; the ETag can.
 */
function fileReply(h: RequestHead, src: { size: number; mtimeMs: number; whole?: Buffer; f?: OpenFile; etag?: string }, objectName: string | undefined): Reply {
  let owned = src.f; // the descriptor is ours to close until the reply takes it over
  try {
    const { size, whole } = src;
    // a small root file comes hashed (it changes in place); a big one gets size and time
    const etag = objectName !== undefined ? `"${objectName}"` : src.etag ?? `"${Math.floor(src.mtimeMs).toString(16)}-${size.toString(16)}"`;
    const lastModified = httpDate(src.mtimeMs);
    const maxAge = objectName !== undefined ? OBJECT_MAX_AGE : SHORT_MAX_AGE;
    const fresh = freshFor(maxAge);
    const validators = `ETag: ${etag}\r\nLast-Modified: ${lastModified}\r\nCache-Control: ${fresh["Cache-Control"]}\r\nExpires: ${fresh.Expires}\r\n`;
    if (noneMatch(h.ifNoneMatch, etag)) return { status: 304, headers: validators, length: 0, noBody: true, noLength: true };

    const range = h.ifRange !== null && h.ifRange !== etag && h.ifRange !== lastModified ? "whole" : parseRange(h.range, size);
    if (range === "unsatisfiable") return { status: 416, headers: `Content-Range: bytes */${size}\r\n`, length: 0 };
    const [status, start, end] = range === "whole" ? [200, 0, size] : [206, range.start, range.end + 1];
    let headers = `Content-Type: ${objectName !== undefined ? OBJECT_TYPE : ROOT_FILE_TYPE}\r\nAccept-Ranges: bytes\r\n${validators}`;
    if (status === 206) headers += `Content-Range: bytes ${start}-${end - 1}/${size}\r\n`;
    const noBody = h.method === "HEAD";
    if (whole) return { status, headers, length: end - start, body: status === 200 ? whole : whole.subarray(start, end), noBody };
    owned = undefined;
    return { status, headers, length: end - start, file: { f: src.f!, start }, noBody };
  } finally {
    if (owned) closeSync(owned.fd);
  }
}

/** /cvmfs/info/v1/repositories.json as upstream renders it; storages holding a snapshot count as replicas. */
function repositoryList(storages: readonly ServedStorage[]): Reply {
  const entry = (s: ServedStorage) => ({ name: s.fqrn, url: `/cvmfs/${s.fqrn}` });
  const isReplica = (s: ServedStorage) => existsSync(`${s.root}/.cvmfs_last_snapshot`);
  const body = Buffer.from(JSON.stringify({ schema: 1, repositories: storages.filter((s) => !isReplica(s)).map(entry), replicas: storages.filter(isReplica).map(entry) }) + "\n");
  return { status: 200, headers: headerLines({ "Content-Type": JSON_TYPE, ...freshFor(SHORT_MAX_AGE) }), length: body.length, body };
}
