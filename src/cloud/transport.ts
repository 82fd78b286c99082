import type { HttpHandlerOptions, HttpRequest, HttpResponse } from "@smithy/types";
import { formatBytes, readCapped } from "../sys/http";
import { httpTimeoutSeconds } from "../sys/config";
import { checkAnswer, whatCameBack } from "./answer";
import { CloudAnswerError, printable } from "./errors";

/**
 * The SDK's request handler for every cloud call, on Bun's fetch: the answer
 * is read as a stream and refused past MAX_ANSWER_BYTES, it must be complete
 * within CVM_HTTP_TIMEOUT (a silent server and one that trickles bytes forever
 * end alike), redirects and content coding are refused, and the bytes must be
 * the EC2 answer asked for (answer.ts) before the SDK parses them. (The SDK's
 * own Node handler, under Bun, neither bounds the body nor fires its
 * requestTimeout for a server that accepts and never answers.)
 */

/** The most one answer may hold. A page of 500 instances is about 2 MiB of XML. */
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/** Time for one complete answer: CVM_HTTP_TIMEOUT seconds (default 20). */
export const answerTimeoutMs = () => 1000 * httpTimeoutSeconds();
/** Deadline of one call, over all its attempts (throttling backoff included). */
export const callDeadlineMs = () => 3 * answerTimeoutMs();

/** Aborts `signal` once `ms` have passed. */
class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: ReturnType<typeof setTimeout>;
  expired = false;
  constructor(ms: number) { this.timer = setTimeout(() => { this.expired = true; this.controller.abort(); }, ms); }
  get signal(): AbortSignal { return this.controller.signal; }
  stop(): void { clearTimeout(this.timer); }
}

/** Bun's network errors, in a few words (its messages carry advice for programmers). */
function networkReason(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const known: Record<string, string> = {
    ECONNREFUSED: "connection refused", ConnectionRefused: "connection refused", ECONNRESET: "connection reset",
    ConnectionClosed: "the server closed the connection", FailedToOpenSocket: "cannot connect", ENOTFOUND: "host not found",
    UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "TLS: unknown certificate issuer", DEPTH_ZERO_SELF_SIGNED_CERT: "TLS: self-signed certificate",
  };
  if (e?.code && known[e.code]) return known[e.code];
  return printable(String(e?.message ?? err).split("\n")[0].replace(/\.? ?For more information, pass `verbose: true`.*$/i, "")) || "network error";
}

const origin = (r: HttpRequest) => `${r.protocol}//${r.hostname.includes(":") && !r.hostname.startsWith("[") ? `[${r.hostname}]` : r.hostname}${r.port ? `:${r.port}` : ""}`;

function requestUrl(r: HttpRequest): string {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(r.query ?? {})) for (const x of [v ?? ""].flat()) query.append(k, x ?? "");
  const q = query.toString();
  return `${origin(r)}${r.path || "/"}${q ? `?${q}` : ""}`;
}

/** The Query API action of a request (its body is form-encoded). */
const actionOf = (r: HttpRequest) => new URLSearchParams(typeof r.body === "string" ? r.body : "").get("Action") ?? String(r.query?.Action ?? "");

export class BoundedTransport {
  readonly metadata = { handlerProtocol: "http/1.1" };
  constructor(private readonly o: { timeoutMs: number; maxBytes: number } = { timeoutMs: answerTimeoutMs(), maxBytes: MAX_ANSWER_BYTES }) {}

  // The SDK's handler interface; nothing to configure or release (fetch pools its connections).
  destroy(): void {}
  updateHttpClientConfig(): void {}
  httpHandlerConfigs(): Record<string, never> { return {}; }

  async handle(request: HttpRequest, options: HttpHandlerOptions = {}): Promise<{ response: HttpResponse }> {
    const where = `endpoint ${origin(request)}${request.path || "/"}`;
    const outer = options.abortSignal as AbortSignal | undefined;
    const clock = new Deadline(this.o.timeoutMs);
    const signal = outer ? AbortSignal.any([clock.signal, outer]) : clock.signal;
    let answering = false; // the status line and headers have come
    const pastCallDeadline = () => new CloudAnswerError(`${where} sent no complete answer within ${callDeadlineMs() / 1000} s`);
    const stopped = (err: unknown): Error => {
      if (err instanceof CloudAnswerError) return err;
      if (outer?.aborted) return pastCallDeadline();
      if (clock.expired) return new CloudAnswerError(`${where} sent ${answering ? "no complete answer" : "nothing"} within ${this.o.timeoutMs / 1000} s (CVM_HTTP_TIMEOUT)`);
      const reason = networkReason(err);
      // a reset connection is worth another attempt; a refused or unknown host is not
      return Object.assign(new CloudAnswerError(`${where} unreachable (${reason})`), reason === "connection reset" || reason.startsWith("the server closed") ? { $retryable: {} } : {});
    };
    try {
      if (outer?.aborted) throw pastCallDeadline();
      let res: Response;
      try {
        res = await fetch(requestUrl(request), {
          method: request.method, headers: { ...request.headers, "accept-encoding": "identity" },
          body: request.method === "GET" || request.method === "HEAD" ? undefined : request.body,
          redirect: "manual", decompress: false, signal,
        } as RequestInit);
      } catch (err) {
        throw stopped(err);
      }
      answering = true;
      const seen = { status: res.status, statusText: res.statusText, contentType: res.headers.get("content-type") ?? "" };
      const refuse = async (why: string): Promise<never> => {
        await res.body?.cancel().catch(() => {});
        throw new CloudAnswerError(`${where} answered ${whatCameBack(seen)}: ${why}`, res.status);
      };
      if (res.status >= 300 && res.status < 400) {
        const location = res.headers.get("location");
        await refuse(`a redirect to ${location ? printable(location) : "nowhere (no Location)"}; EC2 endpoints do not redirect: set endpoint to the cloud's API URL`);
      }
      const coding = res.headers.get("content-encoding");
      if (coding && coding.toLowerCase() !== "identity") await refuse(`Content-Encoding '${printable(coding, 40)}' that cvm did not ask for`);
      if (Number(res.headers.get("content-length") ?? 0) > this.o.maxBytes) await refuse(`more than the ${formatBytes(this.o.maxBytes)} allowed for an answer`);
      const body = await readCapped(res, this.o.maxBytes, () => new CloudAnswerError(`${where} answered ${whatCameBack(seen)}: more than the ${formatBytes(this.o.maxBytes)} allowed for an answer`, res.status)).catch((err) => { throw stopped(err); });
      checkAnswer({ where, action: actionOf(request), ...seen, body });
      return { response: { statusCode: res.status, reason: res.statusText, headers: Object.fromEntries(res.headers.entries()), body } };
    } finally {
      clock.stop();
    }
  }
}
