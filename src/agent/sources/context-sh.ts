import type { Problems } from "../problems";

/**
 * OpenNebula/HEPiX `context.sh`, read as data and never run: `KEY='value'`,
 * `KEY="value"`, `KEY=value` and `export KEY=…` lines (single quotes may span
 * lines, as OpenNebula writes SSH keys; `'\''` is a quote). `$(…)`, `` ` ``
 * and `$VAR` are kept as literal text, with a warning, since nothing is
 * expanded; any other line (a command) is ignored with a warning. A `;`
 * with no command before it is an error: bash refuses such a file, and so
 * do OpenNebula and cloud-init, which read it with bash.
 */
export function parseContextSh(text: string, problems: Problems, where: string): Map<string, string> {
  const vars = new Map<string, string>();
  let i = 0, line = 1;
  const n = text.length;
  const eol = () => { while (i < n && text[i] !== "\n") i++; };
  while (i < n) {
    while (i < n && (text[i] === " " || text[i] === "\t" || text[i] === "\r")) i++;
    if (i >= n) break;
    if (text[i] === ";") {
      // bash (which OpenNebula and cloud-init read the file with) refuses this: the file is broken
      problems.error(where, line, "';' with no command before it: a shell syntax error; the file is broken");
      eol();
      continue;
    }
    if (text[i] === "\n") { i++; line++; continue; }
    if (text[i] === "#") { eol(); continue; }
    const startLine = line;
    const m = /^(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=/.exec(text.slice(i, i + 300));
    if (!m) {
      problems.warn(where, startLine, "not an assignment; ignored (context.sh is read as data, never run)");
      eol();
      continue;
    }
    i += m[0].length;
    let value = "", expansion = false;
    value: while (i < n) {
      const c = text[i];
      if (c === "'") {
        const end = text.indexOf("'", i + 1);
        if (end < 0) { problems.error(where, startLine, `${m[1]}: unterminated single quote`); i = n; break; }
        const piece = text.slice(i + 1, end);
        line += piece.split("\n").length - 1;
        value += piece;
        i = end + 1;
      } else if (c === '"') {
        i++;
        for (;;) {
          if (i >= n) { problems.error(where, startLine, `${m[1]}: unterminated double quote`); break value; }
          const d = text[i];
          if (d === '"') { i++; break; }
          if (d === "\\" && i + 1 < n && '"\\$`\n'.includes(text[i + 1])) {
            if (text[i + 1] === "\n") line++; else value += text[i + 1];
            i += 2;
            continue;
          }
          if (d === "$" || d === "`") expansion = true;
          if (d === "\n") line++;
          value += d;
          i++;
        }
      } else if (c === "\\" && i + 1 < n) {
        if (text[i + 1] === "\n") line++; else value += text[i + 1];
        i += 2;
      } else if (c === " " || c === "\t" || c === ";" || c === "\n" || c === "\r") {
        break;
      } else {
        if (c === "$" || c === "`") expansion = true;
        value += c;
        i++;
      }
    }
    if (expansion) problems.warn(where, startLine, `${m[1]}: '$' or '\`' taken literally; context.sh is never run`);
    vars.set(m[1], value);
    // `A=1; B=2` on one line: the next assignment; anything else after a value is ignored
    while (i < n && (text[i] === " " || text[i] === "\t" || text[i] === "\r")) i++;
    if (text[i] === ";") { i++; continue; }
    if (i < n && text[i] !== "\n" && text[i] !== "#") {
      problems.warn(where, line, "text after the assignment ignored");
      eol();
    } else if (text[i] === "#") eol();
  }
  return vars;
}
