/**
 * A unified diff of two small text files for `--dry-run` (configuration files
 * of a few hundred lines): longest common subsequence, three lines of context.
 */

const MAX_LINES = 4000;

function split(text: string): string[] {
  if (text === "") return [];
  return (text.endsWith("\n") ? text.slice(0, -1) : text).split("\n");
}

type Op = [" " | "-" | "+", string];

function operations(a: string[], b: string[]): Op[] {
  // trim the common head and tail first: most edits touch a few lines
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const x = a.slice(head, a.length - tail), y = b.slice(head, b.length - tail);
  const n = x.length, m = y.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--) lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const ops: Op[] = a.slice(0, head).map((l) => [" ", l] as Op);
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) { ops.push([" ", x[i]]); i++; j++; }
    else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) ops.push(["-", x[i++]]);
    else ops.push(["+", y[j++]]);
  }
  for (const l of a.slice(a.length - tail)) ops.push([" ", l]);
  return ops;
}

/** The diff from `before` (null: no file) to `after`, or "" when they are equal. */
export function unifiedDiff(path: string, before: string | null, after: string): string {
  if (before === after) return "";
  const a = split(before ?? ""), b = split(after);
  if (a.length > MAX_LINES || b.length > MAX_LINES) return `--- ${path}\n+++ ${path}\n(${a.length} → ${b.length} lines; too long to show)\n`;
  const ops = operations(a, b);
  const out = [`--- ${before === null ? "/dev/null" : path}`, `+++ ${path}`];
  const CONTEXT = 3;
  let k = 0;
  while (k < ops.length) {
    while (k < ops.length && ops[k][0] === " ") k++;
    if (k === ops.length) break;
    let start = Math.max(0, k - CONTEXT), end = k;
    // extend the hunk while the next change is within 2×CONTEXT unchanged lines
    for (;;) {
      while (end < ops.length && ops[end][0] !== " ") end++;
      let gap = end;
      while (gap < ops.length && ops[gap][0] === " ") gap++;
      if (gap < ops.length && gap - end <= 2 * CONTEXT) { end = gap; continue; }
      end = Math.min(ops.length, end + CONTEXT);
      break;
    }
    let oldStart = 1, newStart = 1;
    for (let t = 0; t < start; t++) { if (ops[t][0] !== "+") oldStart++; if (ops[t][0] !== "-") newStart++; }
    const hunk = ops.slice(start, end);
    const oldLen = hunk.filter((o) => o[0] !== "+").length, newLen = hunk.filter((o) => o[0] !== "-").length;
    out.push(`@@ -${oldLen ? oldStart : oldStart - 1},${oldLen} +${newLen ? newStart : newStart - 1},${newLen} @@`);
    for (const [op, line] of hunk) out.push(op + line);
    k = end;
  }
  return out.join("\n") + "\n";
}
