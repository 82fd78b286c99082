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

/** Cache-Control and Expires for `maxAge` seconds from now (nginx's `expires` sets both). */
export function freshFor(maxAge: number, nowMs = Date.now()): { "Cache-Control": string; Expires: string } {
  return { "Cache-Control": `max-age=${maxAge}`, Expires: new Date(nowMs + maxAge * 1000).toUTCString() };
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
