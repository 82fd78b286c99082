/**
 * Caching headers as upstream's Apache configuration sets them for a stratum
 * (cvmfs_server_apache.sh, spec §1.1) and test/servers/nginx.ts does for
 * nginx: the `.cvmfs*` files (and JSON) are application/x-cvmfs for 61 s —
 * "60 seconds and below is not cached at all by Squid default" — so a new
 * revision reaches clients behind squids within about a minute; data/
 * objects never change (their name is their hash) and are kept 3 days.
 */
export const SHORT_MAX_AGE = 61;
export const OBJECT_MAX_AGE = 3 * 24 * 3600;
export const GEO_MAX_AGE = 3600;          // upstream's geo API: an ordering is good for an hour
export const GEO_ERROR_MAX_AGE = 300;

export const ROOT_FILE_TYPE = "application/x-cvmfs";
export const OBJECT_TYPE = "application/octet-stream";
export const JSON_TYPE = "application/json";

// Formatting a date is a good part of answering a small request: each string is made once a second (or once per mtime).
const expiresCache = new Map<number, { second: number; value: string }>();
const httpDates = new Map<number, string>();

/** Cache-Control and Expires for `maxAge` seconds from now (nginx's `expires` sets both). */
export function freshFor(maxAge: number, nowMs = Date.now()): { "Cache-Control": string; Expires: string } {
  const second = Math.floor(nowMs / 1000);
  let e = expiresCache.get(maxAge);
  if (!e || e.second !== second) expiresCache.set(maxAge, (e = { second, value: new Date((second + maxAge) * 1000).toUTCString() }));
  return { "Cache-Control": `max-age=${maxAge}`, Expires: e.value };
}

/** An HTTP date (Last-Modified) for a time in ms; the few thousand most recent kept. */
export function httpDate(ms: number): string {
  const second = Math.floor(ms / 1000);
  let d = httpDates.get(second);
  if (d === undefined) {
    if (httpDates.size >= 4096) httpDates.clear();
    httpDates.set(second, (d = new Date(second * 1000).toUTCString()));
  }
  return d;
}

/** Whether If-None-Match (a list of entity tags, or *) matches `etag`; weak comparison, as RFC 9110 §13.1.2 asks. */
export function noneMatch(header: string | null, etag: string): boolean {
  if (header === null) return false;
  const bare = etag.replace(/^W\//, "");
  return header.split(",").some((t) => {
    const tag = t.trim();
    return tag === "*" || tag.replace(/^W\//, "") === bare;
  });
}
