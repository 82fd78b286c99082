// Signature verification for the EC2 double, written from AWS's documentation
// ("Signature Version 4 signing process", "Signature Version 2 signing process")
// and checked against its published examples (test/cloud-signatures.test.ts).
// It shares nothing with src/cloud: a bug in cvm's signer must fail here.
import { createHash, createHmac } from "node:crypto";

export type Verdict = { ok: true } | { ok: false; code: "AuthFailure" | "SignatureDoesNotMatch" | "RequestExpired"; message: string };

const BAD_KEY: Verdict = { ok: false, code: "AuthFailure", message: "AWS was not able to validate the provided access credentials" };
const MISMATCH: Verdict = { ok: false, code: "SignatureDoesNotMatch", message: "The request signature we calculated does not match the signature you provided" };
const FIVE_MINUTES = 5 * 60_000;

/** URI encoding as both versions define it: every byte except A-Z a-z 0-9 - _ . ~ as %XY, hex in upper case. */
export function uriEncode(s: string): string {
  let out = "";
  for (const byte of Buffer.from(s, "utf8")) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** name=value pairs, encoded, sorted by name and then value in byte order, joined with '&'. */
export function canonicalQuery(pairs: [string, string][]): string {
  return pairs
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort((a, b) => (a[0] !== b[0] ? (a[0] < b[0] ? -1 : 1) : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

const sha256Hex = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");
const hmac = (key: string | Buffer, s: string) => createHmac("sha256", key).update(s, "utf8").digest();

// ---- Signature Version 4 ----

export interface HttpRequestParts {
  method: string;
  path: string;                      // as sent, percent-encoded
  query: string;                     // the raw query string, without '?'
  headers: Record<string, string>;   // names in lower case
  body: string;
}

/** Query string → decoded pairs ('+' is a space in form encoding). */
const queryPairs = (q: string): [string, string][] => [...new URLSearchParams(q)];

/**
 * The canonical request: method, canonical URI, canonical query, canonical
 * headers (the signed ones, lower case, values trimmed with inner runs of
 * spaces made one), the signed header list, and the hex SHA-256 of the body.
 * (The paths served here are plain ASCII, where AWS's double encoding of path
 * segments for services other than S3 changes nothing.)
 */
export function canonicalRequestV4(r: HttpRequestParts, signedHeaders: string[]): string {
  const uri = "/" + r.path.split("/").slice(1).map((seg) => uriEncode(decodeURIComponent(seg))).join("/");
  const headers = signedHeaders.map((h) => `${h}:${(r.headers[h] ?? "").trim().replace(/ +/g, " ")}\n`).join("");
  return [r.method.toUpperCase(), uri, canonicalQuery(queryPairs(r.query)), headers, signedHeaders.join(";"), sha256Hex(r.body)].join("\n");
}

export function signingKeyV4(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac("AWS4" + secret, date), region), service), "aws4_request");
}

export function stringToSignV4(amzDate: string, scope: string, canonicalRequest: string): string {
  return ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(canonicalRequest)].join("\n");
}

/** Checks the Authorization header of a SigV4 request: key, scope, time, signed headers, signature. */
export function verifySigV4(r: HttpRequestParts, o: { accessKeyId: string; secretAccessKey: string; region: string; service: string; now?: number }): Verdict {
  const m = /^AWS4-HMAC-SHA256 Credential=([^/,]+)\/(\d{8})\/([^/,]+)\/([^/,]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(r.headers.authorization ?? "");
  if (!m) return BAD_KEY;
  const [, key, date, region, service, signedList, signature] = m;
  if (key !== o.accessKeyId) return BAD_KEY;
  if (region !== o.region || service !== o.service) return { ok: false, code: "AuthFailure", message: `Credential should be scoped to a valid region and service, not '${region}/${service}'` };
  const amzDate = r.headers["x-amz-date"] ?? "";
  const t = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(amzDate);
  if (!t || `${t[1]}${t[2]}${t[3]}` !== date) return { ok: false, code: "AuthFailure", message: "X-Amz-Date missing, malformed, or not the day of the credential scope" };
  const when = Date.UTC(+t[1], +t[2] - 1, +t[3], +t[4], +t[5], +t[6]);
  if (!(Math.abs((o.now ?? Date.now()) - when) < FIVE_MINUTES)) return { ok: false, code: "RequestExpired", message: `Request has expired. Timestamp date is ${amzDate}` };
  const signedHeaders = signedList.split(";");
  if (!signedHeaders.includes("host") || signedHeaders.join(";") !== [...signedHeaders].sort().join(";")) return { ok: false, code: "AuthFailure", message: "SignedHeaders must be sorted and include host" };
  const expected = hmac(signingKeyV4(o.secretAccessKey, date, region, service), stringToSignV4(amzDate, `${date}/${region}/${service}/aws4_request`, canonicalRequestV4(r, signedHeaders))).toString("hex");
  return expected === signature ? { ok: true } : MISMATCH;
}

// ---- Signature Version 2 ----

/** METHOD \n host (lower case) \n path \n canonical query of every parameter but Signature. */
export function stringToSignV2(method: string, host: string, path: string, params: [string, string][]): string {
  return [method.toUpperCase(), host.toLowerCase(), path || "/", canonicalQuery(params.filter(([k]) => k !== "Signature"))].join("\n");
}

export function signatureV2(secret: string, method: "HmacSHA256" | "HmacSHA1", stringToSign: string): string {
  return createHmac(method === "HmacSHA256" ? "sha256" : "sha1", secret).update(stringToSign, "utf8").digest("base64");
}

/** Checks a SigV2 request's parameters (from the query string, or the form body of a POST). */
export function verifySigV2(method: string, host: string, path: string, params: [string, string][], o: { accessKeyId: string; secretAccessKey: string; now?: number }): Verdict {
  const p = new Map(params);
  const alg = p.get("SignatureMethod");
  if (p.get("SignatureVersion") !== "2" || (alg !== "HmacSHA256" && alg !== "HmacSHA1") || !p.get("Signature"))
    return { ok: false, code: "AuthFailure", message: "this endpoint accepts Signature Version 2 (HmacSHA256 or HmacSHA1) only" };
  if (p.get("AWSAccessKeyId") !== o.accessKeyId) return BAD_KEY;
  const stamp = p.get("Timestamp") ?? p.get("Expires") ?? "";
  const when = Date.parse(/Z|[+-]\d\d:?\d\d$/.test(stamp) ? stamp : stamp + "Z");
  const now = o.now ?? Date.now();
  if (p.has("Expires") ? !(now < when) : !(Math.abs(now - when) < FIVE_MINUTES)) return { ok: false, code: "RequestExpired", message: `Request has expired. Timestamp date is ${stamp}` };
  return signatureV2(o.secretAccessKey, alg, stringToSignV2(method, host, path, params)) === p.get("Signature") ? { ok: true } : MISMATCH;
}
