/**
 * What a request path names on a stratum web server, decided before any file
 * is touched. Only what a stratum serves is reachable: the `.cvmfs*` files at
 * a repository's root, `data/XX/<object name>`, the geo API and the
 * server-wide repository list. Everything else is 404, and a path that tries
 * to be clever (encoded slash or backslash, NUL, a `.` or `..` segment after
 * decoding, bad percent-encoding) is 400 whatever it would have named.
 */
export type Target =
  | { kind: "root-file"; fqrn: string; rel: string }               // .cvmfspublished, .cvmfswhitelist, .cvmfsalt-…
  | { kind: "object"; fqrn: string; rel: string; name: string }    // data/XX/<hex><tag><suffix>
  | { kind: "geo"; fqrn: string; proxy: string; servers: string[] }
  | { kind: "repositories" }                                      // /cvmfs/info/v1/repositories.json
  | { kind: "refused"; status: 400 | 404; why: string };

const ROOT_FILE = /^\.cvmfs[A-Za-z0-9._+-]*$/;
const OBJECT_DIR = /^[0-9a-f]{2}$/;
// the hex name less its first two digits, an algorithm tag, a type suffix (spec §1.2)
const OBJECT_NAME = /^[0-9a-f]{38}(-rmd160|-shake128)?[A-Z]?$/;
// %2F and %5C would smuggle a separator past the split; %00 a NUL into a file name
const ENCODED_SEPARATOR = /%(2f|5c|00)/i;

const notFound = (why: string): Target => ({ kind: "refused", status: 404, why });
const bad = (why: string): Target => ({ kind: "refused", status: 400, why });

/** The path of an absolute request URL, without query or fragment, still percent-encoded. */
export function rawPathOf(url: string): string {
  const scheme = url.indexOf("://");
  const start = scheme < 0 ? 0 : url.indexOf("/", scheme + 3);
  if (start < 0) return "/";
  let end = url.length;
  for (const c of ["?", "#"]) {
    const at = url.indexOf(c, start);
    if (at >= 0 && at < end) end = at;
  }
  return url.slice(start, end);
}

export function parseRequestPath(raw: string): Target {
  if (!raw.startsWith("/")) return bad("the path is not absolute");
  if (ENCODED_SEPARATOR.test(raw)) return bad("an encoded slash, backslash or NUL");
  if (raw.includes("\\") || raw.includes("\0")) return bad("a backslash or NUL");
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    return bad("malformed percent-encoding");
  }
  if (path.includes("\\") || path.includes("\0")) return bad("a backslash or NUL");
  const segments = path.split("/").filter((s) => s !== ""); // "//" merged, as nginx's merge_slashes
  if (segments.some((s) => s === "." || s === "..")) return bad("a '.' or '..' segment");
  if (segments[0] !== "cvmfs" || segments.length < 2) return notFound("not below /cvmfs/");
  if (segments.length === 4 && segments[1] === "info" && segments[2] === "v1" && segments[3] === "repositories.json") return { kind: "repositories" };
  const [, fqrn, ...rest] = segments;
  if (rest.length === 1 && ROOT_FILE.test(rest[0])) return { kind: "root-file", fqrn, rel: rest[0] };
  if (rest.length === 3 && rest[0] === "data" && OBJECT_DIR.test(rest[1]) && OBJECT_NAME.test(rest[2]))
    return { kind: "object", fqrn, rel: rest.join("/"), name: rest[1] + rest[2] };
  if (rest.length === 5 && rest[0] === "api" && rest[1] === "v1.0" && rest[2] === "geo")
    return { kind: "geo", fqrn, proxy: rest[3], servers: rest[4].split(",") };
  return notFound("not a file a stratum serves");
}
