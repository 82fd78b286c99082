import { createHmac } from "node:crypto";

/**
 * AWS Signature Version 2 (HmacSHA256), which OpenNebula's econe-server,
 * Eucalyptus and other legacy EC2 front-ends still require. The SDK signs
 * SigV4 only; this plugs in as its `signer` for such regions.
 */

/** RFC 3986 percent-encoding as SigV2 wants it: only A-Z a-z 0-9 - _ . ~ stay literal. */
function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

/** Parameters sorted by name (byte order), each name=value encoded, joined with '&'. */
export function canonicalQueryString(params: Record<string, string>): string {
  return Object.keys(params)
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    .map((k) => `${encodeRfc3986(k)}=${encodeRfc3986(params[k])}`)
    .join("&");
}

export function stringToSignV2(method: string, host: string, path: string, params: Record<string, string>): string {
  return `${method.toUpperCase()}\n${host.toLowerCase()}\n${path || "/"}\n${canonicalQueryString(params)}`;
}

export function signatureV2(secretKey: string, stringToSign: string): string {
  return createHmac("sha256", secretKey).update(stringToSign, "utf8").digest("base64");
}

/** `2011-10-03T15:19:30Z` */
const v2Timestamp = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

export interface V2Credentials { accessKeyId: string; secretAccessKey: string; sessionToken?: string; }

/**
 * Adds AWSAccessKeyId, SignatureVersion, SignatureMethod, Timestamp (and the
 * session token) to the parameters and returns them with the Signature.
 */
export function signParamsV2(o: { method: string; host: string; path: string; params: Record<string, string>; credentials: V2Credentials; date: Date }): Record<string, string> {
  const params: Record<string, string> = {
    ...o.params,
    AWSAccessKeyId: o.credentials.accessKeyId,
    SignatureVersion: "2",
    SignatureMethod: "HmacSHA256",
    Timestamp: v2Timestamp(o.date),
  };
  if (o.credentials.sessionToken) params.SecurityToken = o.credentials.sessionToken;
  delete params.Signature;
  return { ...params, Signature: signatureV2(o.credentials.secretAccessKey, stringToSignV2(o.method, o.host, o.path, params)) };
}
