import type { EC2Client } from "@aws-sdk/client-ec2";
import type { HttpRequest, RequestSigningArguments } from "@smithy/types";
import type { Region } from "./regions";
import { signParamsV2, canonicalQueryString } from "./sigv2";
import { BoundedTransport, callDeadlineMs } from "./transport";
import { describeCloudError as describe } from "./errors";

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

/** An EC2 client for one region: its endpoint, signature version, credentials, adaptive retries, bounded answers. */
async function ec2Client(region: Region): Promise<EC2Client> {
  const { EC2Client } = await import("@aws-sdk/client-ec2");
  const credentials = await credentialProvider(region);
  return new EC2Client({
    region: region.signingRegion,
    endpoint: region.endpoint,
    credentials,
    maxAttempts: 4,
    retryMode: "adaptive", // backs off on throttling before reporting it
    requestHandler: new BoundedTransport(),
    ...(region.signatureVersion === 2 ? { signer: new SigV2Signer(credentials ?? (await credentialProvider({ ...region, signatureVersion: 2 }))!) } : {}),
  });
}

/** Runs `work` with a client for `region` and destroys the client however it ends. */
export async function withClient<T>(region: Region, work: (client: EC2Client) => Promise<T>): Promise<T> {
  const client = await ec2Client(region);
  try {
    return await work(client);
  } finally {
    client.destroy();
  }
}

/**
 * Options for client.send(): a hard deadline over all attempts, so that a
 * server that trickles its answer cannot hang a launch script either.
 */
export function sendOptions(): { abortSignal: AbortSignal } {
  return { abortSignal: AbortSignal.timeout(callDeadlineMs()) };
}

/** One line saying what went wrong with a region's cloud. */
export const describeCloudError = (region: Region, err: unknown) => describe(region, err, callDeadlineMs() / 1000);
