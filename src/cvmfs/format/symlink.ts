/**
 * Variant symlinks: `$(VAR)` and `$(VAR:-default)` in a target are replaced
 * from the environment of the reader (spec §2.6). A "$(" without a closing
 * parenthesis is kept as it is.
 */
export function expandSymlink(raw: string, env: Record<string, string | undefined> = process.env): string {
  let out = "";
  let i = 0;
  while (i < raw.length) {
    const start = raw.indexOf("$(", i);
    if (start < 0) { out += raw.slice(i); break; }
    out += raw.slice(i, start);
    const end = raw.indexOf(")", start + 2);
    if (end < 0) { out += raw.slice(start, start + 3); i = start + 3; continue; }
    const body = raw.slice(start + 2, end);
    const sep = body.indexOf(":-");
    const name = sep < 0 ? body : body.slice(0, sep);
    const fallback = sep < 0 ? "" : body.slice(sep + 2);
    out += env[name] ?? fallback;
    i = end + 1;
  }
  return out;
}
