/**
 * The Range header (RFC 9110 §14), one range only: `bytes=a-b`, `bytes=a-`
 * and the suffix form `bytes=-n`. A header that is not a single byte range
 * (another unit, several ranges, bad syntax) is ignored and the whole file
 * served, as the RFC allows; a well-formed range that starts beyond the end
 * is unsatisfiable (416).
 */
export type RangeAnswer = { start: number; end: number } | "whole" | "unsatisfiable"; // end inclusive

const SINGLE = /^bytes=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*$/i;

export function parseRange(header: string | null, size: number): RangeAnswer {
  if (header === null) return "whole";
  const m = SINGLE.exec(header);
  if (!m || (m[1] === "" && m[2] === "")) return "whole";
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  if (!Number.isSafeInteger(start) || (m[2] !== "" && Number(m[2]) < start)) return "whole"; // invalid: ignored
  if (start >= size) return "unsatisfiable";
  return { start, end: m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1) };
}
