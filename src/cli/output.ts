/** Data output on stdout: tab-separated tables (optionally with a header line) or JSON. */

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

export function printTable(header: string[], rows: string[][], withHeader: boolean): void {
  const lines = withHeader ? [header, ...rows] : rows;
  if (lines.length) process.stdout.write(lines.map((r) => r.join("\t")).join("\n") + "\n");
}

/**
 * A message for one line of stderr: control characters (a newline, ESC) as C
 * escapes, so text from a file, a server or a command line can neither break
 * the one-line rule nor drive the terminal. Backslashes stay as they are.
 */
export function oneLine(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => C_ESCAPES[c] ?? "\\" + c.charCodeAt(0).toString(8).padStart(3, "0"));
}

const C_ESCAPES: Record<string, string> = { "\x07": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f", "\r": "\\r", "\\": "\\\\" };

/**
 * A name from somewhere untrusted, safe to print on a terminal: control
 * characters and backslashes as C escapes (`\n`, `\033`), as `ls -b` shows
 * them, so a name cannot move the cursor, fake a line or hide its length.
 */
export function escapeName(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f\\]/g, (c) => C_ESCAPES[c] ?? "\\" + c.charCodeAt(0).toString(8).padStart(3, "0"));
}
