/**
 * The stock client's configuration files are shell scripts that it sources.
 * cvm reads them as data: `KEY=value` and `export KEY=value` lines, single
 * and double quotes, `#` comments, `$VAR` / `${VAR}` references to keys set
 * earlier. Nothing is ever executed; a line that needs a shell to mean
 * anything (`if`, a command) is skipped with a warning naming it.
 */

export interface Assignment { key: string; value: string; line: number; }
export interface ParsedConfig { assignments: Assignment[]; warnings: string[]; }

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `lookup` resolves a `$NAME` reference (earlier keys, then the environment); unknown names expand to "". */
export function parseShellConfig(text: string, file: string, lookup: (name: string) => string | undefined): ParsedConfig {
  const assignments: Assignment[] = [];
  const warnings: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    let line = lines[i].replace(/\r$/, "").trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("export ")) line = line.slice(7).trimStart();
    const eq = line.indexOf("=");
    const key = eq > 0 ? line.slice(0, eq) : "";
    if (!NAME.test(key)) {
      warnings.push(`${file}:${lineNo}: skipped, not a KEY=value line: ${line.slice(0, 60)}`);
      continue;
    }
    const resolve = (name: string) => {
      for (let j = assignments.length - 1; j >= 0; j--) if (assignments[j].key === name) return assignments[j].value;
      return lookup(name) ?? "";
    };
    const value = parseValue(line.slice(eq + 1), resolve);
    if (value === undefined) {
      warnings.push(`${file}:${lineNo}: skipped, ${key}'s value is not a plain word or quoted string`);
      continue;
    }
    assignments.push({ key, value, line: lineNo });
  }
  return { assignments, warnings };
}

/**
 * One shell word: unquoted text, '…' (literal) and "…" (with $ expansion and
 * \-escapes) pieces side by side, up to whitespace or an unquoted `#`/`;`.
 * Returns undefined for what only a shell could evaluate: $( ), backquotes,
 * an unterminated quote, or more words after the value.
 */
function parseValue(s: string, resolve: (name: string) => string): string | undefined {
  let out = "";
  let i = 0;
  const expand = (): string | undefined => {
    // at s[i] === "$"
    if (s[i + 1] === "{") {
      const end = s.indexOf("}", i + 2);
      const name = end > 0 ? s.slice(i + 2, end) : "";
      if (!NAME.test(name)) return undefined;
      i = end + 1;
      return resolve(name);
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i + 1));
    if (!m) { i++; return "$"; }
    i += 1 + m[0].length;
    return resolve(m[0]);
  };
  while (i < s.length) {
    const c = s[i];
    if (c === " " || c === "\t" || c === ";") break;
    if (c === "#" && out === "") break;
    if (c === "`" || (c === "$" && s[i + 1] === "(")) return undefined;
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) return undefined;
      out += s.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= s.length) return undefined;
        const d = s[i];
        if (d === '"') { i++; break; }
        if (d === "`" || (d === "$" && s[i + 1] === "(")) return undefined;
        if (d === "\\" && i + 1 < s.length && "$`\"\\".includes(s[i + 1])) { out += s[i + 1]; i += 2; continue; }
        if (d === "$") { const v = expand(); if (v === undefined) return undefined; out += v; continue; }
        out += d;
        i++;
      }
    } else if (c === "\\" && i + 1 < s.length) {
      out += s[i + 1];
      i += 2;
    } else if (c === "$") {
      const v = expand();
      if (v === undefined) return undefined;
      out += v;
    } else {
      out += c;
      i++;
    }
  }
  const rest = s.slice(i).trim();
  if (rest !== "" && !rest.startsWith("#") && !/^;\s*(#.*)?$/.test(rest)) return undefined;
  return out;
}
