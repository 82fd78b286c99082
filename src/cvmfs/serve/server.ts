import { closeSync, existsSync } from "node:fs";
import { createHash } from "node:crypto";
import type { Server } from "bun";
import { CvmError, errnoCode } from "../../cli/errors";
import { geoAnswer, thisHost } from "./geo";
import { freshFor, httpDate, GEO_ERROR_MAX_AGE, GEO_MAX_AGE, JSON_TYPE, noneMatch, OBJECT_MAX_AGE, OBJECT_TYPE, ROOT_FILE_TYPE, SHORT_MAX_AGE } from "./headers";
import { fileOpener, readWhole, streamRange, type OpenFile } from "./open-file";
import { parseRange } from "./range";
import { parseRequestPath, rawPathOf } from "./request-path";
import { nameStorages, type ServedStorage } from "./storages";
import { readFull } from "../../sys/read-full";

/**
 * A stratum web server (cvm serve): repository storages under
 * /cvmfs/<fqrn>/, as a stratum 0 or 1 must serve them (request-path.ts says
 * what is reachable, headers.ts how long it may be cached, open-file.ts how
 * requests are kept inside the storage), plus the geo API and the
 * repository list. For demos, tests and small sites; production sites put
 * nginx or Apache in front of the same directories.
 */
export interface ServeOptions {
  storages: string[];
  hostname?: string;                // default 127.0.0.1
  port?: number;                    // default 8000; 0 picks a free one
  log?: (line: string) => void;     // one line per request (cvm serve -v)
}

export interface StratumServer {
  readonly base: string;            // http://127.0.0.1:8000
  readonly port: number;
  readonly repositories: readonly ServedStorage[];
  /** http://host:port/cvmfs/<fqrn> */
  url(fqrn: string): string;
  /** Stops accepting, lets requests in flight finish (2 s at most), closes every connection. */
  stop(): Promise<void>;
}

export const DEFAULT_HOSTNAME = "127.0.0.1";
export const DEFAULT_PORT = 8000;

// Files up to this size are read whole (and root files hashed for their ETag); bigger ones are streamed.
const SMALL = 1 << 20;

const text = (status: number, body: string, headers: Record<string, string> = {}) =>
  new Response(body, { status, headers: { "Content-Type": "text/plain; charset=utf-8", ...headers } });

export function startStratumServer(o: ServeOptions): StratumServer {
  const storages = nameStorages(o.storages);
  const openers = new Map(storages.map((s) => [s.fqrn, fileOpener(s.root)]));
  const byName = new Map(storages.map((s) => [s.fqrn, s]));
  const host = thisHost();
  const hostname = o.hostname ?? DEFAULT_HOSTNAME;

  const handle = (req: Request, server: Server<undefined>): Response => {
    if (req.method !== "GET" && req.method !== "HEAD") return text(405, "only GET and HEAD\n", { Allow: "GET, HEAD" });
    const t = parseRequestPath(rawPathOf(req.url));
    switch (t.kind) {
      case "refused":
        return text(t.status, t.status === 400 ? `bad request: ${t.why}\n` : "not found\n");
      case "repositories":
        return repositoryList(storages);
      case "geo": {
        if (!byName.has(t.fqrn)) return text(404, "not found\n");
        const a = geoAnswer({ proxy: t.proxy, servers: t.servers, remoteAddress: server.requestIP(req)?.address }, host);
        return text(a.status, a.body, freshFor(a.status === 200 ? GEO_MAX_AGE : GEO_ERROR_MAX_AGE));
      }
      case "root-file":
      case "object": {
        const f = openers.get(t.fqrn)?.open(t.rel);
        if (!f) return text(404, "not found\n");
        return fileResponse(req, f, t.kind === "object" ? t.name : undefined);
      }
    }
  };

  let server: Server<undefined>;
  try {
    server = Bun.serve({
      hostname,
      port: o.port ?? DEFAULT_PORT,
      idleTimeout: 120, // a slow client of a big object must not be cut off after Bun's default 10 s
      fetch(req, srv) {
        const started = o.log ? performance.now() : 0;
        let res: Response;
        try {
          res = handle(req, srv);
        } catch (err) {
          res = text(500, "internal error\n");
          o.log?.(`error: ${req.method} ${rawPathOf(req.url)}: ${(err as Error).message}`);
        }
        if (o.log) {
          const ms = (performance.now() - started).toFixed(1);
          o.log(`${srv.requestIP(req)?.address ?? "-"} ${req.method} ${rawPathOf(req.url)} ${res.status} ${res.headers.get("content-length") ?? "-"} ${ms}ms`);
        }
        return res;
      },
    });
  } catch (err) {
    for (const opener of openers.values()) opener.close();
    const where = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${o.port ?? DEFAULT_PORT}`;
    const code = errnoCode(err);
    if (code === "EADDRINUSE") throw new CvmError(`${where}: address already in use; choose another with --listen HOST:PORT (port 0 picks a free one)`);
    if (code === "EACCES") throw new CvmError(`${where}: permission denied (ports below 1024 need root)`);
    if (code === "EADDRNOTAVAIL") throw new CvmError(`${where}: not an address of this machine`);
    throw new CvmError(`${where}: cannot listen: ${(err as Error).message.split("\n")[0]}`);
  }
  const port = server.port!;
  const shown = hostname === "0.0.0.0" || hostname === "::" ? host.names.values().next().value! : hostname;
  const base = `http://${shown.includes(":") ? `[${shown}]` : shown}:${port}`;
  return {
    base,
    port,
    repositories: storages,
    url: (fqrn) => `${base}/cvmfs/${fqrn}`,
    async stop() {
      const force = setTimeout(() => void server.stop(true), 2000);
      try {
        await server.stop(false);
      } finally {
        clearTimeout(force);
      }
      await server.stop(true); // idle keep-alive connections
      for (const opener of openers.values()) opener.close();
    },
  };
}

/**
 * A file's response: caching headers, a validator that is the same on every
 * replica (an object's name is its content hash; a small root file is hashed
 * as it is read), and one byte range when asked for. If-Modified-Since is
 * not honoured, as upstream's Apache configuration drops it: replicas write
 * the same file at different times, so a date cannot say whether a copy is
 * current; the ETag can.
 */
function fileResponse(req: Request, f: OpenFile, objectName: string | undefined): Response {
  let owned = true; // the descriptor is ours to close until a body or stream takes it over
  const close = () => { if (owned) { owned = false; closeSync(f.fd); } };
  try {
    let whole: Buffer | undefined;
    let etag: string;
    if (objectName !== undefined) etag = `"${objectName}"`;
    else if (f.size <= SMALL) {
      owned = false;
      whole = readWhole(f);
      etag = `"${createHash("sha1").update(whole).digest("hex")}"`;
    } else etag = `"${Math.floor(f.mtimeMs).toString(16)}-${f.size.toString(16)}"`;
    const size = whole ? whole.length : f.size;
    const lastModified = httpDate(f.mtimeMs);
    const maxAge = objectName !== undefined ? OBJECT_MAX_AGE : SHORT_MAX_AGE;
    const validators = { ETag: etag, "Last-Modified": lastModified, ...freshFor(maxAge) };
    // Bun adds Date to responses with a body only; the others say it themselves (a cache computes ages from it).
    const dated = { Date: httpDate(Date.now()) };
    if (noneMatch(req.headers.get("if-none-match"), etag)) return new Response(null, { status: 304, headers: { ...validators, ...dated } });

    const ifRange = req.headers.get("if-range");
    const range = ifRange !== null && ifRange !== etag && ifRange !== lastModified ? "whole" : parseRange(req.headers.get("range"), size);
    if (range === "unsatisfiable") return new Response(null, { status: 416, headers: { "Content-Range": `bytes */${size}`, ...dated } });
    const [status, start, end] = range === "whole" ? [200, 0, size] : [206, range.start, range.end + 1];
    const headers: Record<string, string> = {
      "Content-Type": objectName !== undefined ? OBJECT_TYPE : ROOT_FILE_TYPE,
      "Content-Length": String(end - start),
      "Accept-Ranges": "bytes",
      ...validators,
    };
    if (status === 206) headers["Content-Range"] = `bytes ${start}-${end - 1}/${size}`;
    if (req.method === "HEAD") return new Response(null, { status, headers: { ...headers, ...dated } });
    if (whole) return new Response(status === 200 ? whole : whole.subarray(start, end), { status, headers });
    if (end - start <= SMALL) {
      const part = Buffer.allocUnsafe(end - start);
      const at = readFull(f.fd, part, start);
      close();
      return new Response(part.subarray(0, at), { status, headers: { ...headers, "Content-Length": String(at) } });
    }
    owned = false;
    return new Response(streamRange(f, start, end), { status, headers });
  } finally {
    close();
  }
}

/** /cvmfs/info/v1/repositories.json as upstream renders it; storages holding a snapshot count as replicas. */
function repositoryList(storages: readonly ServedStorage[]): Response {
  const entry = (s: ServedStorage) => ({ name: s.fqrn, url: `/cvmfs/${s.fqrn}` });
  const isReplica = (s: ServedStorage) => existsSync(`${s.root}/.cvmfs_last_snapshot`);
  const body = JSON.stringify({ schema: 1, repositories: storages.filter((s) => !isReplica(s)).map(entry), replicas: storages.filter(isReplica).map(entry) });
  return new Response(body + "\n", { headers: { "Content-Type": JSON_TYPE, ...freshFor(SHORT_MAX_AGE) } });
}
