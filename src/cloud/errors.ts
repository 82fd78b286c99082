/**
 * An answer (or a silence) from a cloud endpoint that cvm refuses before the
 * SDK sees it: the message is the whole story, ready for `cvm: REGION: …`.
 * `$metadata.httpStatusCode` lets the SDK retry 5xx answers from proxies;
 * everything else here is final (no `$retryable`, a name the SDK does not
 * count as transient).
 */
export class CloudAnswerError extends Error {
  readonly $metadata: { httpStatusCode?: number };
  constructor(message: string, status?: number) {
    super(message);
    this.name = "CloudAnswerError";
    this.$metadata = status !== undefined && status >= 500 ? { httpStatusCode: status } : {};
  }
}

/** Text from a server, safe for one terminal line: control characters replaced, length capped. */
export function printable(s: string, max = 160): string {
  const clean = s.replace(/[\x00-\x1f\x7f-\x9f]/g, "?");
  return clean.length > max ? clean.slice(0, max) + "…" : clean;
}

/** One line saying what went wrong with a cloud, in the user's terms. */
export function describeCloudError(region: { endpoint?: string; signingRegion: string; signatureVersion: 2 | 4 }, err: unknown, deadlineSeconds: number): string {
  if (err instanceof CloudAnswerError) return err.message;
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number }; $responseBodyText?: string };
  const code = printable(e.name ?? e.code ?? "", 80); // from the cloud's error document: no escape sequences
  const msg = printable((e.message ?? String(err)).split("\n")[0]);
  const where = region.endpoint ?? `EC2 ${region.signingRegion}`;
  const status = e.$metadata?.httpStatusCode ? `HTTP ${e.$metadata.httpStatusCode}` : "";
  if (/^(AuthFailure|InvalidClientTokenId|UnrecognizedClientException|AuthorizationHeaderMalformed)$/.test(code)) return `bad credentials (${code}: ${msg})`;
  if (code === "SignatureDoesNotMatch") return `signature rejected: wrong secret key, or this cloud needs signature_version = ${region.signatureVersion === 4 ? 2 : 4} (${msg})`;
  if (/^(RequestExpired|SignatureExpired|RequestTimeTooSkewed)$/.test(code)) return `request expired: this machine's clock is off, check NTP (${msg})`;
  if (/^InvalidAMIID\./.test(code)) return `unknown image (${code}: ${msg})`;
  if (/LimitExceeded$/.test(code) && code !== "RequestLimitExceeded") return `quota exceeded (${code}: ${msg})`;
  if (/^(RequestLimitExceeded|Throttling|ThrottlingException)$/.test(code)) return `throttled by the cloud, still after retries (${msg})`;
  if (code === "AbortError" || code === "TimeoutError") return `endpoint ${where} sent no complete answer within ${deadlineSeconds} s`;
  if (code === "CredentialsProviderError") return `no credentials: set a profile or access_key/secret_key in regions.ini, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (${msg})`;
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ECONNRESET|socket hang up|Unable to connect/i.test(`${e.code ?? ""} ${msg}`)) return `endpoint ${where} unreachable (${msg})`;
  // The SDK failing on an answer that passed the checks (answer.ts): say so without its internals.
  if (e.$responseBodyText !== undefined || /^(TypeError|RangeError|SyntaxError)$/.test(code) || /XML parse error|Deserialization error/i.test(e.message ?? ""))
    return `endpoint ${where}${status ? ` (${status})` : ""}: the answer is not readable EC2 XML (${msg.replace(/^@aws-sdk\S* (- )?/, "")})`;
  if (code === "Unknown" || code === "UnknownError" || !code) return `endpoint ${where}: an error without a name${status ? ` (${status})` : ""}: ${msg}`;
  return code === "Error" ? msg : `${code}: ${msg}`;
}
