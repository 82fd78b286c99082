import type { EC2Client } from "@aws-sdk/client-ec2";
import type { HttpRequest, RequestSigningArguments } from "@smithy/types";
import type { Region } from "./regions";
import { signParamsV2, canonicalQueryString } from "./sigv2";
import { httpTimeoutSeconds } from "../sys/config";

type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
type CredentialProvider = () => Promise<Credentials>;

/** SigV2 as an SDK request signer: the Query API body gets the auth parameters and the Signature. */
class SigV2Signer {
  constructor(private readonly credentials: CredentialProvider) {}

  async sign(request: HttpRequest, options?: RequestSigningArguments): Promise<HttpRequest> {
    const params = Object.fromEntries(new URLSearchParams(String(request.body ?? "")));
    const host = request.headers.host ?? request.headers.Host ?? (request.port ? `${request.hostname}:${request.port}` : request.hostname);
    const signed = signParamsV2({ method: request.method, host, path: request.path || "/", params, credentials: await this.credentials(), date: options?.signingDate ? new Date(options.signingDate) : new Date() });
    request.body = canonicalQueryString(signed);
    request.headers["content-length"] = String(Buffer.byteLength(request.body));
    return request;
  }
}

const CONNECT_TIMEOUT_MS = 5_000;
/** Seconds to wait for a cloud's answer (CVM_HTTP_TIMEOUT overrides, as for repositories). */
const requestTimeoutMs = () => 1000 * httpTimeoutSeconds();

async function credentialProvider(region: Region): Promise<CredentialProvider | undefined> {
  if (region.credentials.kind === "keys") {
    const { accessKeyId, secretAccessKey } = region.credentials;
    return async () => ({ accessKeyId, secretAccessKey });
  }
  const profile = region.credentials.profile;
  if (!profile && region.signatureVersion === 4) return undefined; // the SDK's own default chain
  const { defaultProvider } = await import("@aws-sdk/credential-provider-node");
  return defaultProvider(profile ? { profile } : {}) as CredentialProvider;
}

/** An EC2 client for one region: its endpoint, signature version, credentials, adaptive retries and timeouts. */
export async function ec2Client(region: Region): Promise<EC2Client> {
  const { EC2Client } = await import("@aws-sdk/client-ec2");
  const credentials = await credentialProvider(region);
  return new EC2Client({
    region: region.signingRegion,
    endpoint: region.endpoint,
    credentials,
    maxAttempts: 4,
    retryMode: "adaptive", // backs off on throttling before reporting it
    requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: requestTimeoutMs() },
    ...(region.signatureVersion === 2 ? { signer: new SigV2Signer(credentials ?? (await credentialProvider({ ...region, signatureVersion: 2 }))!) } : {}),
  });
}

/**
 * Options for client.send(): a hard deadline over all attempts, because a
 * server that accepts and never answers must not hang a launch script.
 */
export function sendOptions(): { abortSignal: AbortSignal } {
  return { abortSignal: AbortSignal.timeout(3 * requestTimeoutMs()) };
}

/** One line saying what went wrong with a cloud, in the user's terms. */
export function describeCloudError(region: Region, err: unknown): string {
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const code = e.name ?? e.code ?? "";
  const msg = (e.message ?? String(err)).split("\n")[0];
  const where = region.endpoint ?? `EC2 ${region.signingRegion}`;
  if (/^(AuthFailure|InvalidClientTokenId|UnrecognizedClientException|AuthorizationHeaderMalformed)$/.test(code)) return `bad credentials (${code}: ${msg})`;
  if (code === "SignatureDoesNotMatch") return `signature rejected: wrong secret key, or this cloud needs signature_version = ${region.signatureVersion === 4 ? 2 : 4} (${msg})`;
  if (/^(RequestExpired|SignatureExpired|RequestTimeTooSkewed)$/.test(code)) return `request expired: this machine's clock is off, check NTP (${msg})`;
  if (/^InvalidAMIID\./.test(code)) return `unknown image (${code}: ${msg})`;
  if (/LimitExceeded$/.test(code) && code !== "RequestLimitExceeded") return `quota exceeded (${code}: ${msg})`;
  if (/^(RequestLimitExceeded|Throttling|ThrottlingException)$/.test(code)) return `throttled by the cloud, still after retries (${msg})`;
  if (code === "AbortError" || code === "TimeoutError") return `endpoint ${where} unreachable (no answer within ${(3 * requestTimeoutMs()) / 1000} s)`;
  if (code === "CredentialsProviderError") return `no credentials: set a profile or access_key/secret_key in regions.ini, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (${msg})`;
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ECONNRESET|TimeoutError|timed? ?out|socket hang up|Unable to connect/i.test(`${code} ${msg}`)) return `endpoint ${where} unreachable (${msg})`;
  return code ? `${code}: ${msg}` : msg;
}
