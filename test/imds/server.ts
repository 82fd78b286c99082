// A test double of the EC2 instance metadata service, written from the AWS
// documentation of IMDS: IMDSv2 sessions (PUT /latest/api/token with the
// X-aws-ec2-metadata-token-ttl-seconds header, 1 to 21600 seconds, else 400;
// a PUT carrying X-Forwarded-For refused with 403; the token then sent as
// X-aws-ec2-metadata-token, an unknown or expired one answered 401), IMDSv1
// (plain GETs, refused with 401 when tokens are required), 404 for what does
// not exist (no user data is a 404), and the failure modes the agent must
// survive: a service that only speaks v1, one that refuses the token PUT,
// one slow to give tokens, one slow at everything, and one that never answers.
import { randomBytes } from "node:crypto";

export type ImdsMode =
  | "v2"             // tokens optional (EC2's default): v2 and v1 both work
  | "v2-required"    // HttpTokens=required: a GET without a valid token is 401
  | "v1-only"        // an old service: the token PUT is answered `tokenStatus` (405 by default)
  | "put-forbidden"  // the token PUT is answered 403; GETs work without a token
  | "slow-token"     // the token PUT waits `delayMs`; GETs answer at once
  | "slow"           // every answer waits `delayMs`
  | "silent";        // connections are accepted and never answered

export interface ImdsOptions {
  mode: ImdsMode;
  userData?: Uint8Array | string | null;  // null or absent: 404
  instanceId?: string;
  hostname?: string;
  publicKeys?: string[];                   // openssh-key lines, one per key index
  delayMs?: number;
  tokenStatus?: 403 | 404 | 405;
  tokenUses?: number;                      // a token expires after this many GETs (a deterministic TTL)
}

export interface ImdsRequest { method: string; path: string; token?: string; ttl?: string; }

export class ImdsDouble {
  readonly requests: ImdsRequest[] = [];
  private readonly tokens = new Map<string, number>(); // token → GETs left
  private server?: ReturnType<typeof Bun.serve>;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(readonly o: ImdsOptions) {}

  get url(): string {
    return `http://127.0.0.1:${this.server!.port}`;
  }

  start(): this {
    this.server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => this.handle(req) });
    return this;
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.server?.stop(true);
  }

  private later(ms: number, make: () => Response): Promise<Response> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.timers.delete(t); resolve(make()); }, ms);
      this.timers.add(t);
    });
  }

  private async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const token = req.headers.get("x-aws-ec2-metadata-token") ?? undefined;
    const ttl = req.headers.get("x-aws-ec2-metadata-token-ttl-seconds") ?? undefined;
    this.requests.push({ method: req.method, path: url.pathname, token, ttl });
    const mode = this.o.mode;
    if (mode === "silent") return new Promise<Response>(() => {});
    const answer = () => (req.method === "PUT" ? this.put(url.pathname, req, ttl) : this.get(url.pathname, req.method, token));
    if (mode === "slow" || (mode === "slow-token" && req.method === "PUT")) return this.later(this.o.delayMs ?? 5000, answer);
    return answer();
  }

  private put(path: string, req: Request, ttl: string | undefined): Response {
    if (path !== "/latest/api/token") return text("Method Not Allowed", 405);
    if (this.o.mode === "v1-only") return text("", this.o.tokenStatus ?? 405);
    if (this.o.mode === "put-forbidden") return text("Forbidden", 403);
    if (req.headers.has("x-forwarded-for")) return text("Forbidden", 403);
    if (ttl === undefined || !/^\d+$/.test(ttl) || Number(ttl) < 1 || Number(ttl) > 21600) return text("Bad Request", 400);
    const token = randomBytes(42).toString("base64");
    this.tokens.set(token, this.o.tokenUses ?? Infinity);
    return new Response(token, { headers: { "Content-Type": "text/plain", "X-aws-ec2-metadata-token-ttl-seconds": ttl } });
  }

  private get(path: string, method: string, token: string | undefined): Response {
    if (method !== "GET") return text("Method Not Allowed", 405);
    if (path === "/latest/api/token") return text("Method Not Allowed", 405);
    if (token !== undefined && this.o.mode !== "v1-only" && this.o.mode !== "put-forbidden") {
      const left = this.tokens.get(token);
      if (left === undefined || left <= 0) return text("Unauthorized", 401);
      this.tokens.set(token, left - 1);
    } else if (this.o.mode === "v2-required") {
      return text("Unauthorized", 401);
    }
    const keys = this.o.publicKeys ?? [];
    const meta: Record<string, string | undefined> = {
      "/latest/meta-data/instance-id": this.o.instanceId ?? "i-0123456789abcdef0",
      "/latest/meta-data/local-hostname": this.o.hostname,
      "/latest/meta-data/public-keys/": keys.length ? keys.map((_, i) => `${i}=key${i}`).join("\n") : undefined,
      "/latest/meta-data/": ["instance-id", "local-hostname", ...(keys.length ? ["public-keys/"] : [])].join("\n"),
    };
    keys.forEach((k, i) => { meta[`/latest/meta-data/public-keys/${i}/openssh-key`] = k + "\n"; });
    if (path === "/latest/user-data") {
      const ud = this.o.userData;
      return ud === undefined || ud === null ? text("Not Found", 404) : new Response(ud, { headers: { "Content-Type": "application/octet-stream" } });
    }
    const v = meta[path];
    return v === undefined ? text("Not Found", 404) : text(v, 200);
  }
}

const text = (body: string, status: number) => new Response(body, { status, headers: { "Content-Type": "text/plain" } });
