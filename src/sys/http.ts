/**
 * One bounded HTTP GET for answers from servers nobody here controls: the
 * body is read as a stream and stops at `maxBytes`, the clock is an idle
 * timeout (no byte for N seconds) rather than a deadline, content coding is
 * refused (a gzip "bomb" never gets inflated), and redirects are followed by
 * hand, only to http(s), only a few times.
 */

/**
 * Why a GET failed, as a download manager needs to know it: the network
 * (refused, reset, silence), an HTTP status, or an answer that broke the
 * rules (too long, content-coded, a bad redirect).
 */
export type HttpFailure = "refused" | "network" | "timeout" | "status" | "too-large" | "encoding" | "redirect";

export class HttpError extends Error {
  constructor(message: string, readonly failure: HttpFailure, readonly status?: number, readonly proxyError = false) {
    super(message);
    this.name = "HttpError";
  }
}

export interface GetOptions {
  maxBytes: number;             // the body may not be longer than this
  idleTimeoutMs: number;        // no byte (or no headers) for this long → failure
  headers?: Record<string, string>;
  maxRedirects?: number;        // default 4; 0 makes a redirect a failure
  proxy?: string;               // http://host:port of a forward proxy
}

export interface GetResult { body: Uint8Array; url: string; status: number; headers: Headers; }

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** "512 KiB", "16 MiB": for messages. */
export function formatBytes(n: number): string {
  if (n >= 1 << 30 && n % (1 << 30) === 0) return `${n / (1 << 30)} GiB`;
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)} KiB`;
  return `${n} bytes`;
}

/** The idle clock: `touch()` on every sign of life; `signal` aborts after `ms` of silence. */
class IdleTimer {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  expired = false;
  constructor(private readonly ms: number) { this.touch(); }
  get signal() { return this.controller.signal; }
  touch() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.expired = true; this.controller.abort(); }, this.ms);
  }
  stop() { clearTimeout(this.timer); }
}

async function once(url: string, o: GetOptions): Promise<Response | GetResult> {
  const idle = new IdleTimer(o.idleTimeoutMs);
  let started = false;
  const via = o.proxy ? ` (via ${o.proxy})` : "";
  const silence = () => new HttpError(started ? `${url}${via}: stalled: no data for ${o.idleTimeoutMs / 1000} s` : `${url}${via}: no answer within ${o.idleTimeoutMs / 1000} s`, "timeout");
  try {
    let response: Response;
    try {
      response = await fetch(url, {
        signal: idle.signal, redirect: "manual", decompress: false, proxy: o.proxy,
        headers: { "User-Agent": "cvm", ...o.headers, "Accept-Encoding": "identity" },
      } as RequestInit);
    } catch (err) {
      if (idle.expired) throw silence();
      const why = describeNetworkError(err);
      throw new HttpError(`${url}${via}: ${why}`, why === "connection refused" ? "refused" : "network");
    }
    started = true;
    if (REDIRECTS.has(response.status)) { await response.body?.cancel().catch(() => {}); return response; }
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      const why = response.status === 404 ? "not found (HTTP 404)" : `HTTP ${response.status}${response.statusText ? " " + response.statusText.slice(0, 60) : ""}`;
      // A squid names its own failures (X-Squid-Error, or Proxy-Status with an error): the proxy failed, not the server.
      const proxyError = !!o.proxy && (response.headers.has("x-squid-error") || /error=/.test(response.headers.get("proxy-status") ?? ""));
      throw new HttpError(`${url}${via}: ${why}`, "status", response.status, proxyError);
    }
    const coding = response.headers.get("content-encoding");
    if (coding && coding.toLowerCase() !== "identity") {
      await response.body?.cancel().catch(() => {});
      throw new HttpError(`${url}${via}: the server sent Content-Encoding '${coding.slice(0, 40)}' although cvm asked for identity; refusing to decode it`, "encoding");
    }
    const declared = Number(response.headers.get("content-length") ?? NaN);
    const tooBig = () => new HttpError(`${url}${via}: the answer is larger than the ${formatBytes(o.maxBytes)} allowed for it`, "too-large");
    if (declared > o.maxBytes) { await response.body?.cancel().catch(() => {}); throw tooBig(); }
    // A small answer of declared length is read in one go (the idle clock then bounds it as a whole);
    // anything else streams, piece by piece, each piece restarting the clock.
    const body = declared <= SMALL_BODY && response.body
      ? await readWhole(response, declared, idle, silence, url + via)
      : await readBounded(response, o.maxBytes, idle, tooBig, silence, url + via);
    return { body, url, status: response.status, headers: response.headers };
  } finally {
    idle.stop();
  }
}

const SMALL_BODY = 256 * 1024;

async function readWhole(response: Response, declared: number, idle: IdleTimer, silence: () => Error, url: string): Promise<Uint8Array> {
  try {
    const body = new Uint8Array(await response.arrayBuffer());
    if (body.length !== declared) throw new HttpError(`${url}: the answer has ${body.length} bytes, Content-Length said ${declared}`, "network");
    return body;
  } catch (err) {
    if (err instanceof HttpError) throw err;
    if (idle.expired) throw silence();
    throw new HttpError(`${url}: ${describeNetworkError(err)}`, "network");
  }
}

async function readBounded(response: Response, max: number, idle: IdleTimer, tooBig: () => Error, silence: () => Error, url: string): Promise<Uint8Array> {
  try {
    return await readCapped(response, max, tooBig, () => idle.touch());
  } catch (err) {
    if (err instanceof HttpError) throw err;
    if (idle.expired) throw silence();
    throw new HttpError(`${url}: ${describeNetworkError(err)}`, "network");
  }
}

/**
 * A body read piece by piece: `tooBig()` is thrown the moment it passes
 * `max` bytes (the stream is cancelled), `onPiece` hears every piece (an
 * idle clock). Other stream errors pass through as they are.
 */
export async function readCapped(response: Response, max: number, tooBig: () => Error, onPiece?: () => void): Promise<Uint8Array> {
  if (!response.body) return new Uint8Array(0);
  const reader = response.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      onPiece?.();
      total += value.length;
      if (total > max) throw tooBig();
      parts.push(value);
    }
  } catch (err) {
    reader.cancel().catch(() => {});
    throw err;
  }
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** Bun's messages carry advice meant for programmers ("…, or use fetch's verbose option"); keep the cause. */
function describeNetworkError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const known: Record<string, string> = {
    ECONNREFUSED: "connection refused", ECONNRESET: "connection reset", ConnectionRefused: "connection refused",
    ConnectionClosed: "the server closed the connection", FailedToOpenSocket: "cannot connect",
    ENOTFOUND: "host not found", UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "TLS: unknown certificate issuer",
  };
  if (e?.code && known[e.code]) return known[e.code];
  const message = String(e?.message ?? err).split("\n")[0];
  return message.replace(/\.? ?For more information, pass `verbose: true`.*$/i, "").slice(0, 200) || "network error";
}

/** GET with the limits above; follows up to `maxRedirects` redirects to http(s) URLs. */
export async function boundedGet(url: string, o: GetOptions): Promise<GetResult> {
  let current = url;
  for (let hop = 0; ; hop++) {
    const r = await once(current, o);
    if (!(r instanceof Response)) return r;
    const location = r.headers.get("location");
    const fail = (why: string) => new HttpError(`${current}: HTTP ${r.status} ${why}`, "redirect", r.status);
    if (!location) throw fail("redirect without a Location");
    let next: URL;
    try { next = new URL(location, current); } catch { throw fail(`redirect to an invalid URL '${location.slice(0, 100)}'`); }
    if (next.protocol !== "http:" && next.protocol !== "https:") throw fail(`redirect to '${next.href.slice(0, 100)}': only http and https are followed`);
    const max = o.maxRedirects ?? 4;
    if (max === 0) throw fail(`redirect to '${next.href.slice(0, 100)}' (redirects are not followed)`);
    if (hop >= max) throw new HttpError(`${url}: more than ${max} redirects`, "redirect", r.status);
    current = next.href;
  }
}
