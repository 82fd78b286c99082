/**
 * The one writer of `KEY=value` files (CernVM-FS client configuration, which
 * /bin/sh sources; /etc/cernvm/site.conf; /etc/environment). Settings are
 * replaced in place, every other line is kept byte for byte, new settings go
 * at the end, and values are single-quoted unless they are plain, so the
 * stock client, a shell and pam_env all read back exactly what was meant.
 */

const PLAIN = /^[A-Za-z0-9@%+=:,.\/_-]*$/;

/** `value`, or `'value'` (with `'` written as `'\''`) when it holds anything a shell would interpret. */
export function shellQuote(value: string): string {
  return PLAIN.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

const ASSIGNMENT = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=/;

export class ShellConfig {
  private constructor(private readonly lines: string[], private readonly endsWithNewline: boolean, readonly existed: boolean) {}

  /** `text` is the file's current content, or null when there is none yet. */
  static parse(text: string | null, header?: string): ShellConfig {
    if (text === null || text === "") return new ShellConfig(header ? [header] : [], true, text !== null);
    const endsWithNewline = text.endsWith("\n");
    return new ShellConfig((endsWithNewline ? text.slice(0, -1) : text).split("\n"), endsWithNewline, true);
  }

  /** Sets KEY: the first assignment of it is rewritten, later ones (which would win when sourced) removed. */
  set(key: string, value: string, prefix = ""): this {
    const line = `${prefix}${key}=${shellQuote(value)}`;
    let found = false;
    for (let i = 0; i < this.lines.length; i++) {
      if (ASSIGNMENT.exec(this.lines[i])?.[1] !== key) continue;
      if (!found) { this.lines[i] = line; found = true; }
      else this.lines.splice(i--, 1);
    }
    if (!found) this.lines.push(line);
    return this;
  }

  /** The value a plain or single-quoted assignment gives KEY (what `sh` would), if it is that simple. */
  get(key: string): string | undefined {
    let value: string | undefined;
    for (const l of this.lines) {
      const m = ASSIGNMENT.exec(l);
      if (m?.[1] !== key) continue;
      const raw = l.slice(m[0].length).trim();
      const q = /^'([^']*)'$/.exec(raw) ?? /^"([^"$`\\]*)"$/.exec(raw);
      value = q ? q[1] : raw;
    }
    return value;
  }

  render(): string {
    if (!this.lines.length) return "";
    return this.lines.join("\n") + (this.endsWithNewline || this.lines.length ? "\n" : "");
  }
}
