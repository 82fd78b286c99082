/** Data output on stdout: tab-separated tables (optionally with a header line) or JSON. */

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

export function printTable(header: string[], rows: string[][], withHeader: boolean): void {
  const lines = withHeader ? [header, ...rows] : rows;
  if (lines.length) process.stdout.write(lines.map((r) => r.join("\t")).join("\n") + "\n");
}
