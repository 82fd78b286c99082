import { UsageError } from "../cli/errors";

/** `H:M` (grid-proxy-init -valid) → seconds. */
export function parseValid(value: string, option = "--valid"): number {
  const m = /^(\d+):(\d{1,2})$/.exec(value.trim());
  if (!m || Number(m[2]) > 59) throw new UsageError(`${option} '${value}': expected hours:minutes, e.g. 12:00`);
  const seconds = Number(m[1]) * 3600 + Number(m[2]) * 60;
  if (seconds === 0) throw new UsageError(`${option} '${value}': the lifetime must be longer than zero`);
  return seconds;
}

/** A whole number of hours (the deprecated -hours option) → seconds. */
export function parseHours(value: string, option = "--hours"): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) === 0) throw new UsageError(`${option} '${value}': expected a positive whole number of hours`);
  return Number(value) * 3600;
}

export function parseNonNegativeInt(value: string, option: string): number {
  if (!/^\d+$/.test(value.trim())) throw new UsageError(`${option} '${value}': expected a non-negative whole number`);
  return Number(value);
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const two = (n: number) => String(n).padStart(2, "0");

/** C's ctime() in local time, as the Globus tools print dates: `Wed Nov 25 02:11:50 2026`. */
export function ctime(d: Date): string {
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`;
}
