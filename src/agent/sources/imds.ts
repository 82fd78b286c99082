import { CvmError } from "../../cli/errors";
import { SourceAbsent, type SourceResult } from "./types";

/**
 * The EC2 instance metadata service. IMDSv2 first: PUT /latest/api/token with
 * a TTL header, then every GET carries the token. The token request answered
 * 403, 404 or 405, or not answered in time, means IMDSv1 (plain GETs). The
 * discovery has a budget (default 1 s): no answer in it means no service,
 * said at once rather than after cloud-init's minutes. user-data 404 is "no
 * user_data", not an error. Bodies are capped, redirects are not followed.
 */

export const DEFAULT_METADATA_URL = "http://169.254.169.254";
const TOKEN_TTL_SECONDS = "300";      // the agent needs it for a few seconds
const GET_TIMEOUT_MS = 2000;          // once the service has answered
const USER_DATA_MAX = 1 << 20;
const META_MAX = 64 << 10;

interface Reply { status: number; body: Buffer; }
class Timeout extends Error {}
class Unreachable extends Error {}

async function request(method: "GET" | "PUT", url: string, headers: Record<string, string>, timeoutMs: number, max: number): Promise<Reply> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    let res: Response;
    try {
      res = await fetch(url, { method, headers: { "User-Agent": "cvm-agent", "Accept-Encoding": "identity", ...headers }, redirect: "manual", signal: controller.signal, decompress: false } as RequestInit);
    } catch (err) {
      if (controller.signal.aborted) throw new Timeout(`no answer within ${timeoutMs / 1000} s`);
      throw new Unreachable((err as Error).message);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      if (res.body) for await (const chunk of res.body) {
        total += chunk.length;
        if (total > max) { controller.abort(); throw new CvmError(`metadata service: ${url}: answer larger than ${max} bytes`); }
        chunks.push(Buffer.from(chunk));
      }
    } catch (err) {
      if (err instanceof CvmError) throw err;
      if (controller.signal.aborted) throw new Timeout(`answer not complete within ${timeoutMs / 1000} s`);
      throw new Unreachable((err as Error).message);
    }
    return { status: res.status, body: Buffer.concat(chunks) };
  } finally {
    clearTimeout(timer);
  }
}

export async function readImds(baseUrl: string, budgetMs: number, note: (s: string) => void): Promise<SourceResult> {
  const base = baseUrl.replace(/\/+$/, "");
  if (!/^https?:\/\/[^\s/]+$/.test(base)) throw new CvmError(`--metadata-url ${baseUrl}: expected http://HOST[:PORT]`);
  const where = `metadata service ${base}`;
  let token: string | undefined;
  let version = "IMDSv2";
  const half = Math.max(50, Math.floor(budgetMs / 2));

  const getToken = async (timeoutMs: number) => {
    const r = await request("PUT", `${base}/latest/api/token`, { "X-aws-ec2-metadata-token-ttl-seconds": TOKEN_TTL_SECONDS }, timeoutMs, 4096);
    if (r.status === 200) {
      const t = r.body.toString("latin1").trim();
      if (!/^[\x21-\x7e]{1,1024}$/.test(t)) throw new CvmError(`${where}: the token it gave is not a printable header value`);
      return t;
    }
    if ([403, 404, 405].includes(r.status)) { note(`${where}: token request answered HTTP ${r.status}; using IMDSv1`); return undefined; }
    throw new CvmError(`${where}: token request answered HTTP ${r.status}`);
  };

  // after a silent token request, the IMDSv1 probe gets the rest of the budget, and silence again means no service
  let probing = false, firstTimeout = GET_TIMEOUT_MS;
  try {
    token = await getToken(half);
    if (!token) version = "IMDSv1";
  } catch (err) {
    if (err instanceof Unreachable) throw new SourceAbsent(`${where}: unreachable (${err.message})`);
    if (!(err instanceof Timeout)) throw err;
    note(`${where}: token request ${err.message}; trying IMDSv1`);
    version = "IMDSv1";
    probing = true;
    firstTimeout = Math.max(50, budgetMs - half);
  }

  const headers = (): Record<string, string> => (token ? { "X-aws-ec2-metadata-token": token } : {});
  const get = async (path: string, max: number, timeoutMs = GET_TIMEOUT_MS): Promise<Buffer | null> => {
    // a token that expired is renewed, once for each request
    for (let renewed = false; ; renewed = true) {
      const r = await request("GET", `${base}/latest/${path}`, headers(), timeoutMs, max);
      if (r.status === 200) return r.body;
      if (r.status === 404) return null;
      if (r.status === 401 && token && !renewed) { token = await getToken(GET_TIMEOUT_MS); continue; }
      if (r.status === 401) throw new CvmError(`${where}: ${path}: HTTP 401 (the service wants an IMDSv2 token${token ? "; it refused the one it gave" : " and refused to give one"})`);
      throw new CvmError(`${where}: ${path}: HTTP ${r.status}`);
    }
  };

  let instanceId: Buffer | null;
  try {
    instanceId = await get("meta-data/instance-id", META_MAX, firstTimeout);
  } catch (err) {
    if (err instanceof Timeout || err instanceof Unreachable) {
      if (probing) throw new SourceAbsent(`${where}: no answer within ${budgetMs / 1000} s`);
      throw new CvmError(`${where}: meta-data/instance-id: ${err.message}`);
    }
    throw err;
  }
  try {
    const userData = await get("user-data", USER_DATA_MAX);
    const hostname = await get("meta-data/local-hostname", META_MAX);
    const publicKeys: string[] = [];
    const index = await get("meta-data/public-keys/", META_MAX);
    for (const line of (index?.toString("utf8") ?? "").split("\n").slice(0, 16)) {
      const m = /^(\d+)=/.exec(line.trim());
      if (!m) continue;
      const key = await get(`meta-data/public-keys/${m[1]}/openssh-key`, META_MAX);
      if (key) publicKeys.push(...key.toString("utf8").split("\n").map((k) => k.trim()).filter(Boolean));
    }
    return {
      name: `${where} (${version})`, userData,
      instanceId: instanceId?.toString("utf8").trim() || undefined,
      hostname: hostname?.toString("utf8").trim() || undefined,
      publicKeys,
    };
  } catch (err) {
    if (err instanceof Timeout || err instanceof Unreachable) throw new CvmError(`${where}: ${err.message}`);
    throw err;
  }
}
