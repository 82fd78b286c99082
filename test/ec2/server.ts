// A test double of the EC2 Query API (API version 2016-11-15), written from the
// published API reference: form-encoded requests, XML responses and error
// documents, pagination, instances that boot (and some that fail to), and real
// verification of Signature Version 4 or 2 by its own code (./signatures.ts;
// nothing from src/cloud, so a signer bug in cvm fails the tests).
import { randomBytes } from "node:crypto";
import { verifySigV2, verifySigV4 } from "./signatures";

export interface Ec2DoubleOptions {
  signatureVersion: 2 | 4;
  accessKeyId: string;
  secretAccessKey: string;
  region?: string;             // the SigV4 scope region it expects
  ownerId?: string;
  instances?: number;          // seeded instances
  images?: number;             // seeded images
  pageLimit?: number;          // at most this many reservations or images a page, whatever MaxResults says (as EC2 may)
  pendingPolls?: number;       // a new instance is pending for this many DescribeInstances that show it [2]
  unknownPolls?: number;       // DescribeInstances naming a new instance says NotFound this many times first [0]
  capacity?: number;           // instances beyond this many running fail to boot: pending, then terminated [unlimited]
  onePerCall?: boolean;        // start one VM per RunInstances whatever MaxCount says (OpenNebula econe-server)
  instanceLimit?: number;      // quota: RunInstances beyond it fails with InstanceLimitExceeded
  throttle?: boolean;          // every request answered with RequestLimitExceeded (HTTP 503)
  silent?: boolean;            // accept requests and never answer
  contentType?: string;        // the label on every answer [text/xml;charset=UTF-8]; moto and Flask-based clouds say text/html; charset=utf-8
}

interface Instance { userData?: string; looks: number; unknownFor: number; reason?: { code: string; message: string }; id: string; reservation: string; image: string; state: string; type: string; key: string; group: string; dns: string; launch: string; index: number; tags: Record<string, string>; }
interface Image { id: string; location: string; state: string; public: boolean; arch: string; type: string; owner: string; name: string; }

const NS = "http://ec2.amazonaws.com/doc/2016-11-15/";
const STATE_CODE: Record<string, number> = { pending: 0, running: 16, "shutting-down": 32, terminated: 48, stopping: 64, stopped: 80 };
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const hex = (n: number) => randomBytes(n).toString("hex");

class Ec2Error extends Error {
  constructor(readonly code: string, message: string, readonly status = 400) { super(message); }
}

export class Ec2Double {
  readonly requests: { action: string; params: Record<string, string> }[] = [];
  readonly instances: Instance[] = [];
  readonly images: Image[] = [];
  private readonly tokens = new Map<string, { key: string; xml: string }>();
  private server?: ReturnType<typeof Bun.serve>;

  constructor(readonly o: Ec2DoubleOptions) {
    const owner = o.ownerId ?? "123456789012";
    for (let i = 0; i < (o.images ?? 3); i++)
      this.images.push({ id: `ami-${String(i + 1).padStart(8, "0")}`, location: `cernvm/cernvm-${i}.manifest.xml`, state: "available", public: i % 2 === 0, arch: "x86_64", type: "machine", owner, name: `cernvm-4.${i}` });
    for (let i = 0; i < (o.instances ?? 2); i++)
      this.instances.push({ looks: 0, unknownFor: 0, id: `i-${hex(8)}`, reservation: `r-${hex(4)}`, image: this.images[0]?.id ?? "ami-0", state: i % 3 === 2 ? "stopped" : "running", type: "m1.large", key: "ami", group: "default",
        dns: `vm${i}.cloud.example.org`, launch: new Date(Date.UTC(2026, 10, 1, 12, i)).toISOString(), index: 0, tags: i === 0 ? { Name: "panda-wn-0" } : {} });
  }

  get url(): string {
    return `http://127.0.0.1:${this.server!.port}/`;
  }

  start(): this {
    this.server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => this.handle(req) });
    return this;
  }

  stop(): void {
    this.server?.stop(true);
  }

  private async handle(req: Request): Promise<Response> {
    if (this.o.silent) return new Promise<Response>(() => {});
    const url = new URL(req.url);
    const body = req.method === "POST" ? await req.text() : "";
    const params = Object.fromEntries(new URLSearchParams(req.method === "POST" ? body : url.search));
    try {
      this.verify(req, url, body, params);
      const action = params.Action;
      this.requests.push({ action, params });
      if (this.o.throttle) throw new Ec2Error("RequestLimitExceeded", "Request limit exceeded.", 503);
      const xml = this.dispatch(action, params);
      return new Response(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}`, { headers: { "Content-Type": this.o.contentType ?? "text/xml;charset=UTF-8" } });
    } catch (err) {
      const e = err instanceof Ec2Error ? err : new Ec2Error("InternalError", (err as Error).message, 500);
      return new Response(`<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${e.code}</Code><Message>${esc(e.message)}</Message></Error></Errors><RequestID>${hex(8)}</RequestID></Response>`,
        { status: e.status, headers: { "Content-Type": this.o.contentType ?? "text/xml;charset=UTF-8" } });
    }
  }

  private verify(req: Request, url: URL, body: string, params: Record<string, string>): void {
    const o = this.o;
    const verdict = o.signatureVersion === 4
      ? verifySigV4({ method: req.method, path: url.pathname, query: url.search.slice(1), headers: Object.fromEntries(req.headers), body },
        { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey, region: o.region ?? "us-east-1", service: "ec2" })
      : verifySigV2(req.method, req.headers.get("host") ?? url.host, url.pathname, Object.entries(params), o);
    if (!verdict.ok) throw new Ec2Error(verdict.code, verdict.message, verdict.code === "SignatureDoesNotMatch" ? 403 : verdict.code === "AuthFailure" ? 401 : 400);
  }

  private dispatch(action: string, p: Record<string, string>): string {
    switch (action) {
      case "DescribeRegions":
        return `<DescribeRegionsResponse xmlns="${NS}"><requestId>${hex(8)}</requestId><regionInfo><item><regionName>${this.o.region ?? "us-east-1"}</regionName><regionEndpoint>127.0.0.1</regionEndpoint></item></regionInfo></DescribeRegionsResponse>`;
      case "DescribeImages":
        return this.describeImages(p);
      case "DescribeInstances":
        return this.describeInstances(p);
      case "RunInstances":
        return this.runInstances(p);
      case "TerminateInstances":
        return this.terminateInstances(p);
      case "DescribeInstanceAttribute": {
        const i = this.instances.find((x) => x.id === p.InstanceId);
        if (!i) throw new Ec2Error("InvalidInstanceID.NotFound", `The instance ID '${p.InstanceId}' does not exist`);
        if (p.Attribute !== "userData") throw new Ec2Error("InvalidParameterValue", `Value (${p.Attribute}) for parameter attribute is invalid`);
        return `<DescribeInstanceAttributeResponse xmlns="${NS}"><requestId>${hex(8)}</requestId><instanceId>${i.id}</instanceId><userData>${i.userData ? `<value>${i.userData}</value>` : ""}</userData></DescribeInstanceAttributeResponse>`;
      }
      default:
        throw new Ec2Error("InvalidAction", `The action ${action} is not valid for this web service.`);
    }
  }

  private filters(p: Record<string, string>): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [k, v] of Object.entries(p)) {
      const m = /^Filter\.(\d+)\.Name$/.exec(k);
      if (m) out.set(v, Object.entries(p).filter(([kk]) => kk.startsWith(`Filter.${m[1]}.Value.`)).map(([, vv]) => vv));
    }
    return out;
  }

  private list(p: Record<string, string>, prefix: string): string[] {
    return Object.entries(p).filter(([k]) => k.startsWith(prefix)).map(([, v]) => v);
  }

  /** One page of `items` after NextToken: MaxResults (5..1000), capped by pageLimit, and an opaque token for the rest. */
  private page<T>(items: T[], p: Record<string, string>): { page: T[]; next: string } {
    const start = p.NextToken ? Number(Buffer.from(p.NextToken, "base64").toString()) : 0;
    if (!Number.isInteger(start) || start < 0 || start > items.length) throw new Ec2Error("InvalidParameterValue", `The token '${p.NextToken}' is invalid`);
    if (p.MaxResults !== undefined && !(Number(p.MaxResults) >= 5 && Number(p.MaxResults) <= 1000)) throw new Ec2Error("InvalidParameterValue", `MaxResults ${p.MaxResults} is not from 5 to 1000`);
    const max = Math.min(p.MaxResults ? Number(p.MaxResults) : items.length || 1, this.o.pageLimit ?? Infinity);
    const next = start + max < items.length ? `<nextToken>${Buffer.from(String(start + max)).toString("base64")}</nextToken>` : "";
    return { page: items.slice(start, start + max), next };
  }

  private describeImages(p: Record<string, string>): string {
    const owners = this.list(p, "Owner.");
    const f = this.filters(p);
    const glob = (pattern: string) => new RegExp("^" + pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$");
    const images = this.images.filter((i) =>
      (!owners.length || owners.some((o) => (o === "self" ? i.owner === (this.o.ownerId ?? "123456789012") : o === i.owner))) &&
      (!f.has("name") || f.get("name")!.some((n) => glob(n).test(i.name))));
    const { page, next } = this.page(images, p);
    const items = page.map((i) => `<item><imageId>${i.id}</imageId><imageLocation>${esc(i.location)}</imageLocation><imageState>${i.state}</imageState><imageOwnerId>${i.owner}</imageOwnerId><isPublic>${i.public}</isPublic><architecture>${i.arch}</architecture><imageType>${i.type}</imageType><name>${esc(i.name)}</name></item>`).join("");
    return `<DescribeImagesResponse xmlns="${NS}"><requestId>${hex(8)}</requestId><imagesSet>${items}</imagesSet>${next}</DescribeImagesResponse>`;
  }

  /** A pending instance boots after `pendingPolls` looks: running, or terminated when the cloud is out of capacity. */
  private boot(i: Instance): void {
    if (i.state !== "pending" || ++i.looks <= (this.o.pendingPolls ?? 2)) return;
    const running = this.instances.filter((x) => x.state === "running").length;
    if (running < (this.o.capacity ?? Infinity)) { i.state = "running"; return; }
    i.state = "terminated";
    i.reason = { code: "Server.InsufficientInstanceCapacity", message: "Server.InsufficientInstanceCapacity: Insufficient capacity." };
  }

  private describeInstances(p: Record<string, string>): string {
    const f = this.filters(p);
    const ids = this.list(p, "InstanceId.");
    // just started instances are not visible to DescribeInstances at once (eventual consistency)
    const unknown = ids.filter((id) => { const i = this.instances.find((x) => x.id === id); return !i || i.unknownFor-- > 0; });
    if (unknown.length) throw new Ec2Error("InvalidInstanceID.NotFound", `The instance ID '${unknown[0]}' does not exist`);
    const matching = this.instances.filter((i) =>
      (!ids.length || ids.includes(i.id)) &&
      (!f.has("reservation-id") || f.get("reservation-id")!.includes(i.reservation)) &&
      (!f.has("instance-state-name") || f.get("instance-state-name")!.includes(i.state)) &&
      (!f.has("owner-id") || f.get("owner-id")!.includes(this.o.ownerId ?? "123456789012")) &&
      [...f.entries()].filter(([n]) => n.startsWith("tag:")).every(([n, vs]) => vs.includes(i.tags[n.slice(4)] ?? "\0")));
    const { page, next } = this.page(matching, p);
    for (const i of page) this.boot(i);
    const items = page.map((i) => `<item><reservationId>${i.reservation}</reservationId><ownerId>${this.o.ownerId ?? "123456789012"}</ownerId><groupSet><item><groupId>sg-1</groupId><groupName>${esc(i.group)}</groupName></item></groupSet><instancesSet>${this.instanceXml(i)}</instancesSet></item>`).join("");
    return `<DescribeInstancesResponse xmlns="${NS}"><requestId>${hex(8)}</requestId><reservationSet>${items}</reservationSet>${next}</DescribeInstancesResponse>`;
  }

  private instanceXml(i: Instance): string {
    return `<item><instanceId>${i.id}</instanceId><imageId>${i.image}</imageId><instanceState><code>${STATE_CODE[i.state]}</code><name>${i.state}</name></instanceState>${i.reason ? `<stateReason><code>${i.reason.code}</code><message>${esc(i.reason.message)}</message></stateReason>` : ""}<privateDnsName/><dnsName>${i.dns}</dnsName><keyName>${esc(i.key)}</keyName><amiLaunchIndex>${i.index}</amiLaunchIndex><instanceType>${i.type}</instanceType><launchTime>${i.launch}</launchTime><placement><availabilityZone>${this.o.region ?? "us-east-1"}a</availabilityZone></placement><tagSet>${Object.entries(i.tags).map(([k, v]) => `<item><key>${esc(k)}</key><value>${esc(v)}</value></item>`).join("")}</tagSet></item>`;
  }

  /** MinCount/MaxCount, UserData, ClientToken idempotency: the same token and parameters return the first launch. */
  private runInstances(p: Record<string, string>): string {
    const { ClientToken: token, ...rest } = p;
    const key = JSON.stringify(Object.entries(rest).filter(([k]) => !/^(AWSAccessKeyId|Signature.*|Timestamp)$/.test(k)).sort());
    if (token && this.tokens.has(token)) {
      if (this.tokens.get(token)!.key !== key) throw new Ec2Error("IdempotentParameterMismatch", `The client token ${token} was already used with different parameters`);
      return this.tokens.get(token)!.xml;
    }
    const image = this.images.find((i) => i.id === p.ImageId);
    if (!image) throw new Ec2Error("InvalidAMIID.NotFound", `The image id '[${p.ImageId}]' does not exist`);
    const min = Number(p.MinCount ?? 1), max = Number(p.MaxCount ?? 1);
    if (!(min >= 1 && max >= min)) throw new Ec2Error("InvalidParameterValue", "MinCount and MaxCount must be at least 1, with MinCount <= MaxCount");
    const room = (this.o.instanceLimit ?? Infinity) - this.instances.filter((i) => i.state !== "terminated").length;
    const n = this.o.onePerCall ? 1 : Math.min(max, room);
    if (n < (this.o.onePerCall ? 1 : min)) throw new Ec2Error("InstanceLimitExceeded", `You have requested more instances (${max}) than your current instance limit of ${this.o.instanceLimit} allows`);
    const reservation = `r-${hex(4)}`;
    const tags: Record<string, string> = {};
    for (const [k, v] of Object.entries(p)) { const m = /^TagSpecification\.1\.Tag\.(\d+)\.Key$/.exec(k); if (m) tags[v] = p[`TagSpecification.1.Tag.${m[1]}.Value`] ?? ""; }
    const started = Array.from({ length: n }, (_, index): Instance => ({
      looks: 0, unknownFor: this.o.unknownPolls ?? 0, id: `i-${hex(8)}`, reservation, image: image.id, state: "pending", type: p.InstanceType ?? "m1.small", key: p.KeyName ?? "", group: p["SecurityGroup.1"] ?? "default",
      dns: `vm-${hex(3)}.cloud.example.org`, launch: new Date().toISOString(), index, tags, userData: p.UserData,
    }));
    this.instances.push(...started);
    const xml = `<RunInstancesResponse xmlns="${NS}"><requestId>${hex(8)}</requestId><reservationId>${reservation}</reservationId><ownerId>${this.o.ownerId ?? "123456789012"}</ownerId><groupSet><item><groupId>sg-1</groupId><groupName>${esc(started[0].group)}</groupName></item></groupSet><instancesSet>${started.map((i) => this.instanceXml(i)).join("")}</instancesSet></RunInstancesResponse>`;
    if (token) this.tokens.set(token, { key, xml });
    return xml;
  }

  private terminateInstances(p: Record<string, string>): string {
    const ids = this.list(p, "InstanceId.");
    const found = ids.map((id) => {
      const i = this.instances.find((x) => x.id === id);
      if (!i) throw new Ec2Error("InvalidInstanceID.NotFound", `The instance ID '${id}' does not exist`);
      return i;
    });
    const items = found.map((i) => {
      const before = i.state;
      i.state = "shutting-down";
      return `<item><instanceId>${i.id}</instanceId><currentState><code>32</code><name>shutting-down</name></currentState><previousState><code>${STATE_CODE[before]}</code><name>${before}</name></previousState></item>`;
    }).join("");
    return `<TerminateInstancesResponse xmlns="${NS}"><requestId>${hex(8)}</requestId><instancesSet>${items}</instancesSet></TerminateInstancesResponse>`;
  }
}
