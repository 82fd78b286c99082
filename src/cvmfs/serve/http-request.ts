/**
 * The head of one HTTP/1.x request, read from the bytes a connection has
 * received: only what a stratum server needs (method, target, the few
 * headers it acts on, whether the connection stays open). The head is
 * bounded (MAX_HEAD); a request with a body is answered and the connection
 * closed rather than its body read, as GET and HEAD carry none.
 */
export interface RequestHead {
  method: string;
  target: string;             // as sent: /path?query, or an absolute URL
  keepAlive: boolean;
  hasBody: boolean;           // Content-Length > 0 or Transfer-Encoding: the connection closes after the answer
  range: string | null;
  ifNoneMatch: string | null;
  ifRange: string | null;
  length: number;             // bytes of the head, CRLFCRLF included
}

export type HeadAnswer = RequestHead | "incomplete" | { bad: string; status: 400 | 431 | 505 };

/** Request line and headers together; nginx's default buffers hold 8 KiB lines. */
export const MAX_HEAD = 16 * 1024;

const CRLFCRLF = Buffer.from("\r\n\r\n");
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Parses the head at the start of `buf`, or says it has not all come yet. */
export function parseHead(buf: Buffer): HeadAnswer {
  const end = buf.indexOf(CRLFCRLF);
  if (end < 0) return buf.length > MAX_HEAD ? { bad: "request head too large", status: 431 } : "incomplete";
  if (end + 4 > MAX_HEAD) return { bad: "request head too large", status: 431 };
  const lines = buf.toString("latin1", 0, end).split("\r\n");
  const line = lines[0];
  const sp1 = line.indexOf(" "), sp2 = line.lastIndexOf(" ");
  if (sp1 <= 0 || sp2 <= sp1 + 1) return { bad: "malformed request line", status: 400 };
  const method = line.slice(0, sp1), target = line.slice(sp1 + 1, sp2), version = line.slice(sp2 + 1);
  if (!TOKEN.test(method) || target.includes(" ")) return { bad: "malformed request line", status: 400 };
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") return { bad: `unsupported ${version.slice(0, 20)}`, status: 505 };
  const head: RequestHead = { method, target, keepAlive: version === "HTTP/1.1", hasBody: false, range: null, ifNoneMatch: null, ifRange: null, length: end + 4 };
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i];
    const colon = l.indexOf(":");
    if (colon <= 0) return { bad: "malformed header line", status: 400 };
    const name = l.slice(0, colon).toLowerCase();
    switch (name) {
      case "range": head.range = l.slice(colon + 1).trim(); break;
      case "if-none-match": head.ifNoneMatch = l.slice(colon + 1).trim(); break;
      case "if-range": head.ifRange = l.slice(colon + 1).trim(); break;
      case "connection": {
        const v = l.slice(colon + 1).toLowerCase();
        if (v.includes("close")) head.keepAlive = false;
        else if (v.includes("keep-alive")) head.keepAlive = true;
        break;
      }
      case "content-length": if (l.slice(colon + 1).trim() !== "0") head.hasBody = true; break;
      case "transfer-encoding": head.hasBody = true; break;
      default: if (!TOKEN.test(name)) return { bad: "malformed header line", status: 400 };
    }
  }
  return head;
}
