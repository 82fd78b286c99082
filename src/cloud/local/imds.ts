import { createHmac, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { InstanceRecord } from "./store";

/**
 * The EC2 instance metadata service of one local guest, as AWS documents it:
 * IMDSv2 (PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds,
 * 1 to 21600, then X-aws-ec2-metadata-token on each GET; a bad or expired
 * token is 401, a PUT with X-Forwarded-For is 403) and IMDSv1 (plain GETs).
 * qemu runs it for each connection the guest opens to 169.254.169.254:80,
 * the connection on stdin and stdout: no port on the host, and a guest can
 * reach only its own metadata. Tokens are an expiry signed with the
 * instance's key (imds.key), so that they outlive the connection.
 */

const HEADER_MAX = 8192;
const BODY_MAX = 1024;
const IDLE_MS = 10_000;
const TTL_MAX = 21600;

export interface ImdsAnswer { status: number; body: string | Uint8Array; }

/** The metadata tree: leaf paths under /latest/meta-data/ and their values. */
function metaData(r: InstanceRecord, keyLine: string | undefined): Record<string, string> {
  const m: Record<string, string> = {
    "ami-id": r.image, "ami-launch-index": String(r.index), "instance-id": r.id, "instance-type": r.type, "reservation-id": r.reservation,
    "local-hostname": r.id, hostname: r.id, "local-ipv4": r.address,
  };
  if (keyLine) { m["public-keys/"] = `0=${r.key}`; m["public-keys/0/openssh-key"] = keyLine; }
  return m;
}

function sign(secret: Buffer, expiry: number): string {
  return `${expiry}.${createHmac("sha256", secret).update(String(expiry)).digest("base64url")}`;
}

function tokenValid(secret: Buffer, token: string, now: number): boolean {
  const expiry = Number(token.split(".")[0]);
  const good = Buffer.from(sign(secret, expiry)), given = Buffer.from(token);
  return Number.isInteger(expiry) && expiry > now && good.length === given.length && timingSafeEqual(good, given);
}

/** One request's answer. `headers` have lower-case names. */
export function answer(dir: string, method: string, path: string, headers: Record<string, string>, now = Date.now()): ImdsAnswer {
  const secret = readFileSync(join(dir, "imds.key"));
  if (path === "/latest/api/token") {
    if (method !== "PUT") return { status: 405, body: "" };
    if (headers["x-forwarded-for"] !== undefined) return { status: 403, body: "" };
    const ttl = Number(headers["x-aws-ec2-metadata-token-ttl-seconds"]);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > TTL_MAX) return { status: 400, body: "" };
    return { status: 200, body: sign(secret, now + ttl * 1000) };
  }
  if (method !== "GET") return { status: 405, body: "" };
  const token = headers["x-aws-ec2-metadata-token"];
  if (token !== undefined && !tokenValid(secret, token, now)) return { status: 401, body: "" };
  const record = JSON.parse(readFileSync(join(dir, "instance.json"), "utf8")) as InstanceRecord;
  if (path === "/latest/user-data") {
    const file = join(dir, "user-data");
    return existsSync(file) && readFileSync(file).length ? { status: 200, body: readFileSync(file) } : { status: 404, body: "" };
  }
  const keyFile = join(dir, "key.pub");
  const meta = metaData(record, existsSync(keyFile) ? readFileSync(keyFile, "utf8").trim() : undefined);
  if (path === "/latest" || path === "/latest/") return { status: 200, body: "meta-data/\nuser-data" };
  if (path === "/latest/meta-data" || path === "/latest/meta-data/") {
    const top = [...new Set(Object.keys(meta).map((k) => k.replace(/\/.*$/, "/")))].sort();
    return { status: 200, body: top.join("\n") };
  }
  const leaf = path.slice("/latest/meta-data/".length);
  if (path.startsWith("/latest/meta-data/") && meta[leaf] !== undefined) return { status: 200, body: meta[leaf] };
  return { status: 404, body: "" };
}

const REASONS: Record<number, string> = { 200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed" };

/** Serves HTTP/1.1 requests on stdin/stdout until the guest closes, goes idle or sends something that is not HTTP. */
export async function serveConnection(dir: string): Promise<void> {
  const reader = Bun.stdin.stream().getReader();
  let buf = Buffer.alloc(0);
  const more = async (): Promise<boolean> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const idle = new Promise<null>((r) => { timer = setTimeout(() => r(null), IDLE_MS); });
    const got = await Promise.race([reader.read(), idle]);
    clearTimeout(timer);
    if (!got || got.done) return false;
    buf = Buffer.concat([buf, Buffer.from(got.value)]);
    return true;
  };
  for (;;) {
    let end: number;
    while ((end = buf.indexOf("\r\n\r\n")) < 0) {
      if (buf.length > HEADER_MAX || !(await more())) return;
    }
    const [requestLine, ...lines] = buf.subarray(0, end).toString("latin1").split("\r\n");
    buf = buf.subarray(end + 4);
    const m = /^([A-Z]+) (\/\S*) HTTP\/1\.([01])$/.exec(requestLine);
    if (!m) return;
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const i = l.indexOf(":");
      if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const length = Number(headers["content-length"] ?? 0);
    if (!(length >= 0 && length <= BODY_MAX)) return;
    while (buf.length < length) if (!(await more())) return;
    buf = buf.subarray(length);
    const a = answer(dir, m[1], m[2].split("?")[0], headers);
    const body = typeof a.body === "string" ? Buffer.from(a.body) : Buffer.from(a.body);
    const close = m[3] === "0" || /close/i.test(headers.connection ?? "");
    const head = `HTTP/1.1 ${a.status} ${REASONS[a.status]}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nServer: cvm\r\n${close ? "Connection: close\r\n" : ""}\r\n`;
    const out = Buffer.concat([Buffer.from(head), body]);
    for (let sent = 0; sent < out.length; ) sent += writeSync(1, out, sent);
    if (close) return;
  }
}
