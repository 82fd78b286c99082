import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { LocalStorage } from "./storage";

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const two = (n: number) => String(n).padStart(2, "0");

/** `date --utc` in the C locale, as upstream's snapshot writes it: "Tue Oct 15 12:00:01 UTC 2024" (day space-padded). */
export function dateLine(d: Date): string {
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, " ")} ` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} UTC ${d.getUTCFullYear()}`;
}

/**
 * .cvmfs_status.json: the monitoring fields upstream keeps there
 * (last_snapshot, last_gc, …), updated with `fields`; string fields already
 * present and not named are kept. An unreadable file is started afresh.
 */
export function updateStatus(storage: LocalStorage, fields: Record<string, string>): void {
  let status: Record<string, unknown> = {};
  try {
    const old = JSON.parse(readFileSync(join(storage.root, ".cvmfs_status.json"), "utf8"));
    if (old && typeof old === "object" && !Array.isArray(old)) status = old;
  } catch { /* none yet, or not JSON */ }
  storage.writeRootFile(".cvmfs_status.json", Buffer.from(JSON.stringify({ ...status, ...fields }, null, 2) + "\n"));
}
