// Endpoints that are not a cloud, or a cloud that misbehaves: what cvm meets when a
// regions.ini points at a captive portal, a web UI, a broken proxy or a hostile server.
// One server; the first path segment picks the behaviour (endpoint = <url>endless-body/).
import { gzipSync } from "node:zlib";

const NS = "http://ec2.amazonaws.com/doc/2016-11-15/";

export const HOSTILE_MODES = [
  "endless-body",  // 200 text/xml, an answer that never ends, as fast as the socket takes it
  "trickle",       // 200 text/xml, one byte every 100 ms, forever
  "silent",        // accepts the request, never answers
  "silent-body",   // sends the headers and the start of an answer, then nothing
  "html",          // 200 text/html: a captive portal or a web UI at the endpoint
  "redirect",      // 302 to a login page
  "bad-gateway",   // 502 text/html from a proxy in front of the cloud
  "wrong-xml",     // 200 text/xml that is not the answer to the action asked
  "html-wrong-xml",  // 200 text/html (as moto labels XML) holding XML that is not the answer asked
  "html-deep-xml",   // 200 text/html, the right root element, then nesting 100 000 deep
  "html-doctype",    // 200 text/html, the right root with entity declarations
  "html-error-page", // 403 text/html: a web server's own error page, not an EC2 error document
  "deep-xml",      // the right root element, then elements nested 100 000 deep
  "doctype",       // the right root, with a DOCTYPE declaring entities (billion laughs)
  "gzip-bomb",     // 200 text/xml, Content-Encoding gzip: 64 KiB that inflate to 64 MiB
  "no-error-code", // 400 with an EC2 error document that names no error
  "truncated-xml", // the right root element, cut off in the middle
  "bad-date",      // a well-formed answer with a launch time that is no date
  "escapes",       // an error whose code holds a terminal escape sequence and whose message spans lines
  "control-chars", // a good answer whose fields hold escape sequences, newlines and tabs
  "repeat-token",  // every page says NextToken=same
  "endless-token", // every page has a new NextToken
] as const;
export type HostileMode = (typeof HOSTILE_MODES)[number];

const xml = (body: string, status = 200, type = "text/xml;charset=UTF-8") => new Response(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`, { status, headers: { "Content-Type": type } });
const HTML = "text/html; charset=utf-8";

/** A page of DescribeInstances / DescribeImages with one item and the given token. */
function page(action: string, n: number, token: string): Response {
  const item = action === "DescribeImages"
    ? `<item><imageId>ami-${String(n).padStart(8, "0")}</imageId><imageState>available</imageState></item>`
    : `<item><reservationId>r-${n}</reservationId><instancesSet><item><instanceId>i-${String(n).padStart(8, "0")}</instanceId><instanceState><code>16</code><name>running</name></instanceState></item></instancesSet></item>`;
  const set = action === "DescribeImages" ? "imagesSet" : "reservationSet";
  return xml(`<${action}Response xmlns="${NS}"><requestId>1</requestId><${set}>${item}</${set}><nextToken>${token}</nextToken></${action}Response>`);
}

function stream(first: string, next: () => string | undefined, delayMs = 0): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let started = false;
  return new ReadableStream({
    async pull(c) {
      if (!started) { started = true; c.enqueue(enc.encode(first)); return; }
      if (delayMs) await Bun.sleep(delayMs);
      const chunk = next();
      if (chunk === undefined) return new Promise<void>(() => {}); // stall forever
      c.enqueue(enc.encode(chunk));
    },
  });
}

export class HostileEndpoint {
  readonly requests: { mode: string; action: string }[] = [];
  private server?: ReturnType<typeof Bun.serve>;
  private readonly bomb = gzipSync(Buffer.alloc(64 << 20, " "), { level: 9 });

  get base(): string {
    return `http://127.0.0.1:${this.server!.port}/`;
  }

  url(mode: HostileMode): string {
    return `${this.base}${mode}/`;
  }

  start(): this {
    this.server = Bun.serve({ port: 0, hostname: "127.0.0.1", idleTimeout: 0, fetch: (req) => this.handle(req) });
    return this;
  }

  stop(): void {
    this.server?.stop(true);
  }

  private async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const mode = url.pathname.split("/")[1] as HostileMode;
    const params = new URLSearchParams(req.method === "POST" ? await req.text() : url.search);
    const action = params.get("Action") ?? "";
    this.requests.push({ mode, action });
    const root = `<${action}Response xmlns="${NS}">`;
    switch (mode) {
      case "endless-body": {
        const items = "<item><reservationId>r-1</reservationId><instancesSet/></item>".repeat(1000);
        return new Response(stream(`<?xml version="1.0"?>\n${root}<reservationSet>`, () => items), { headers: { "Content-Type": "text/xml" } });
      }
      case "trickle":
        return new Response(stream(`<?xml version="1.0"?>\n${root}`, () => " ", 100), { headers: { "Content-Type": "text/xml" } });
      case "silent":
        return new Promise<Response>(() => {});
      case "silent-body":
        return new Response(stream(`<?xml version="1.0"?>\n${root}<requestId>1</requestId>`, () => undefined), { headers: { "Content-Type": "text/xml" } });
      case "html":
        return new Response("<!DOCTYPE html><html><head><title>Welcome to the guest network</title></head><body>Log in</body></html>", { headers: { "Content-Type": "text/html; charset=utf-8" } });
      case "redirect":
        return new Response("", { status: 302, headers: { Location: "https://login.example.org/portal?from=ec2" } });
      case "bad-gateway":
        return new Response("<html><body><h1>502 Bad Gateway</h1></body></html>", { status: 502, headers: { "Content-Type": "text/html" } });
      case "wrong-xml":
        return xml(`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>oops</Name></ListBucketResult>`);
      case "html-wrong-xml":
        return xml(`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>oops</Name></ListBucketResult>`, 200, HTML);
      case "html-deep-xml":
        return xml(`${root}${"<a>".repeat(100_000)}${"</a>".repeat(100_000)}</${action}Response>`, 200, HTML);
      case "html-doctype":
        return xml(`<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">]>${root}<requestId>&a;</requestId></${action}Response>`, 200, HTML);
      case "html-error-page":
        return new Response("<html><head><title>403 Forbidden</title></head><body><h1>Forbidden</h1><p>Code: 403</p></body></html>", { status: 403, headers: { "Content-Type": HTML } });
      case "deep-xml":
        return xml(`${root}${"<a>".repeat(100_000)}${"</a>".repeat(100_000)}</${action}Response>`);
      case "doctype":
        return xml(`<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>${root}<requestId>&c;</requestId></${action}Response>`);
      case "gzip-bomb":
        return new Response(this.bomb, { headers: { "Content-Type": "text/xml", "Content-Encoding": "gzip" } });
      case "no-error-code":
        return xml(`<Response><Errors><Error></Error></Errors><RequestID>1</RequestID></Response>`, 400);
      case "truncated-xml":
        return xml(`${root}<reservationSet><item><reservationId>r-1`);
      case "bad-date":
        return xml(`${root}<reservationSet><item><reservationId>r-1</reservationId><instancesSet><item><instanceId>i-1</instanceId><launchTime>yesterday</launchTime></item></instancesSet></item></reservationSet></${action}Response>`);
      case "escapes":
        return xml(`<Response><Errors><Error><Code>Oops&#x1b;[2J</Code><Message>first line&#10;second line</Message></Error></Errors></Response>`, 400);
      case "control-chars":
        return xml(`${root}<reservationSet><item><reservationId>r-1&#x1b;[31m</reservationId><instancesSet><item><instanceId>i-1&#10;i-2</instanceId><instanceState><code>16</code><name>running&#9;x</name></instanceState><tagSet><item><key>Name</key><value>a&#x1b;]0;title&#7;</value></item></tagSet></item></instancesSet></item></reservationSet></${action}Response>`);
      case "repeat-token":
        return page(action, 1, "same");
      case "endless-token": {
        const n = Number(params.get("NextToken") ?? "0") + 1;
        return page(action, n, String(n));
      }
      default:
        return new Response("no such mode", { status: 404 });
    }
  }
}
