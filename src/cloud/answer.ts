import { CloudAnswerError, printable } from "./errors";

/**
 * Is this the EC2 Query API's answer to the action asked? Checked on the raw
 * bytes before the SDK parses them, because the SDK reads whatever XML it gets
 * (an HTML login page becomes an empty, successful listing) and recurses as
 * deep as the document goes.
 */

/** EC2 answers nest about ten levels; anything far deeper is not one. */
export const MAX_XML_DEPTH = 64;

const XML_TYPE = /^\s*(text|application)\/([\w.-]+\+)?xml\s*(;|$)/i;
const ROOT = /^\uFEFF?\s*(?:<\?[^]*?\?>\s*|<!--[^]*?-->\s*)*<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)/;
const ERROR_ROOTS = new Set(["Response", "ErrorResponse", "Error"]);

export interface RawAnswer {
  where: string;         // the endpoint, for messages
  action: string;        // the Query API action asked (DescribeInstances, …)
  status: number;
  statusText: string;
  contentType: string;
  body: Uint8Array;
}

/** "HTTP 200 OK, text/html": what came back, in a message. */
export function whatCameBack(a: Pick<RawAnswer, "status" | "statusText" | "contentType">): string {
  return `HTTP ${a.status}${a.statusText ? " " + printable(a.statusText, 40) : ""}, ${a.contentType ? printable(a.contentType, 60) : "no content type"}`;
}

function refuse(a: RawAnswer, why: string): never {
  throw new CloudAnswerError(`${a.where} answered ${whatCameBack(a)}: ${why}`, a.status);
}

/** Deepest element nesting, stopping early once past `limit`. */
function nestingDepth(text: string, limit: number): number {
  const tag = /<(\/?)[A-Za-z_][^<>]*?(\/?)>/g;
  let depth = 0, deepest = 0;
  for (let m = tag.exec(text); m; m = tag.exec(text)) {
    if (m[1]) depth--;
    else if (!m[2] && ++depth > deepest && (deepest = depth) > limit) break;
  }
  return deepest;
}

/**
 * Throws a CloudAnswerError naming the region's endpoint and what came back unless `a` is an EC2 answer to `a.action`.
 * The document decides, not its label: moto and servers on Werkzeug/Flask send EC2's XML as text/html, which
 * aws-cli and the SDKs accept. An answer labelled other than XML passes only if its root element is the one EC2
 * sends (<ActionResponse>, or an error document's); an HTML page, a login portal or anything else under a non-XML
 * label is refused for what its label says it is.
 */
export function checkAnswer(a: RawAnswer): void {
  const ok = a.status >= 200 && a.status < 300;
  const labelledXml = XML_TYPE.test(a.contentType);
  const mislabelled = (): never =>
    refuse(a, /html/i.test(a.contentType) ? "a web page, not the EC2 API (a login portal or a web interface at this endpoint?)" : `not EC2 XML`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(a.body);
  } catch {
    return labelledXml ? refuse(a, "not UTF-8 text") : mislabelled();
  }
  const root = ROOT.exec(text)?.[1];
  const expected = ok ? root === `${a.action}Response` : root !== undefined && ERROR_ROOTS.has(root);
  if (!labelledXml && !expected) mislabelled();
  if (/<!(DOCTYPE|ENTITY)/.test(text)) refuse(a, "XML with a DOCTYPE or entity declarations, which EC2 never sends");
  if (!root) refuse(a, "no XML document");
  if (ok && !expected) refuse(a, `<${printable(root, 60)}>, not the EC2 ${a.action}Response`);
  if (!ok && !expected) refuse(a, `<${printable(root, 60)}>, not an EC2 error document`);
  if (!ok && !/<Code>\s*[^<\s]/.test(text)) refuse(a, "an EC2 error document that names no error code");
  if (nestingDepth(text, MAX_XML_DEPTH) > MAX_XML_DEPTH) refuse(a, `XML nested deeper than ${MAX_XML_DEPTH} levels, which no EC2 answer is`);
}
