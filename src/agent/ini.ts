import { escapeName } from "../cli/output";
import type { Problems } from "./problems";

/**
 * The INI of amiconfig user_data, read strictly but forgivingly: sections are
 * case-insensitive; keys are lowercased with spaces and `-` made `_` (so
 * `group profile` and `x509-cert` are `group_profile` and `x509_cert`); `=` or
 * `:` separates, the first one wins; `#` and `;` start comment lines; values
 * are taken as written (no `%` interpolation, no inline comments, no quotes
 * removed). The µCernVM boot loader's [ucernvm-begin]…[ucernvm-end] block is
 * skipped. A line that is none of these is an error with its number.
 */

export interface IniEntry { key: string; rawKey: string; value: string; line: number; where: string; }
export interface IniSection { name: string; line: number; where: string; entries: Map<string, IniEntry>; }
export type IniDoc = Map<string, IniSection>;

export const normalizeKey = (k: string) => k.trim().toLowerCase().replace(/[\s-]+/g, "_");

const SECTION = /^\[([^\]]*)\]\s*$/;
const SECTION_NAME = /^[a-z0-9][a-z0-9_.-]*$/;
const KEY = /^[a-z0-9_][a-z0-9_.]*$/;

/** Adds the sections of `text` (whose first line is line `firstLine` of `where`) to `doc`. */
export function parseIni(text: string, doc: IniDoc, problems: Problems, where: string, firstLine = 1): void {
  let section: IniSection | undefined;
  let inUcernvm = false;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const n = firstLine + i;
    const raw = lines[i].replace(/\r$/, "");
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = SECTION.exec(line);
    if (inUcernvm) {
      if (header && header[1].trim().toLowerCase() === "ucernvm-end") inUcernvm = false;
      continue;
    }
    if (header) {
      const name = header[1].trim().toLowerCase();
      if (name === "ucernvm-begin") { inUcernvm = true; section = undefined; continue; }
      if (!SECTION_NAME.test(name)) {
        problems.error(where, n, `[${escapeName(header[1])}]: not a valid section name`);
        section = undefined;
        continue;
      }
      section = doc.get(name);
      if (!section) doc.set(name, (section = { name, line: n, where, entries: new Map() }));
      continue;
    }
    const sep = line.search(/[=:]/);
    if (sep < 0) {
      problems.error(where, n, `'${escapeName(clip(line))}': expected KEY = VALUE, [SECTION] or a comment`);
      continue;
    }
    const rawKey = line.slice(0, sep).trim();
    const key = normalizeKey(rawKey);
    if (!KEY.test(key)) {
      problems.error(where, n, `'${escapeName(clip(rawKey))}': not a valid key name`);
      continue;
    }
    if (!section) {
      problems.warn(where, n, `${key}: outside any [section]; ignored`);
      continue;
    }
    const value = line.slice(sep + 1).trim();
    const before = section.entries.get(key);
    if (before) problems.warn(where, n, `[${section.name}] ${key}: given again (first on ${before.where === where ? "" : before.where + " "}line ${before.line}); the last one counts`);
    section.entries.set(key, { key, rawKey, value, line: n, where });
  }
  if (inUcernvm) problems.warn(where, undefined, "[ucernvm-begin] without [ucernvm-end]: the rest was skipped");
}

const clip = (s: string) => (s.length > 60 ? s.slice(0, 57) + "..." : s);

/** A comma list, trimmed, empty items dropped (`cms, grid` → [cms, grid]). */
export const splitList = (v: string) => v.split(",").map((s) => s.trim()).filter(Boolean);
