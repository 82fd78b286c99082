import { closeSync, openSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { UsageError } from "../cli/errors";
import { readFull } from "../sys/read-full";

/** EC2 accepts at most 16 KiB of user data (before base64). */
export const USER_DATA_LIMIT = 16 * 1024;

/**
 * Puts a proxy into `[cernvm]` user data as `x509-cert` (base64), which the
 * agent writes to the user's /tmp/x509up_u<uid>; adds the section if absent.
 */
export function withProxy(userData: string, proxyPem: string): string {
  const line = `x509-cert = ${Buffer.from(proxyPem).toString("base64")}`;
  const lines = userData.replace(/\s+$/, "").split("\n");
  const start = lines.findIndex((l) => /^\s*\[cernvm\]\s*$/i.test(l));
  if (start < 0) return [...lines, "", "[cernvm]", line, ""].join("\n");
  let end = lines.findIndex((l, i) => i > start && /^\s*\[[^\]]+\]\s*$/.test(l));
  if (end < 0) end = lines.length;
  lines.splice(end, 0, line);
  return lines.join("\n") + "\n";
}

/** The bytes to send: as they are when they fit, gzipped when not; too large even gzipped is an error before any call. */
export function packUserData(text: string): { bytes: Uint8Array; gzipped: boolean } {
  const raw = Buffer.from(text);
  if (raw.length <= USER_DATA_LIMIT) return { bytes: raw, gzipped: false };
  const gz = gzipSync(raw, { level: 9 });
  if (gz.length > USER_DATA_LIMIT)
    throw new UsageError(`user data is ${raw.length} bytes (${gz.length} gzipped); EC2 accepts at most ${USER_DATA_LIMIT}`);
  return { bytes: gz, gzipped: true };
}

/** The most --user-data may read: text that could still gzip under USER_DATA_LIMIT, not an endless device. */
export const USER_DATA_FILE_LIMIT = 4 * 1024 * 1024;

export function readUserDataFile(file: string): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const buf = Buffer.alloc(USER_DATA_FILE_LIMIT + 1);
    const n = readFull(fd, buf);
    if (n > USER_DATA_FILE_LIMIT) throw new UsageError(`--user-data ${file}: more than ${USER_DATA_FILE_LIMIT} bytes; user data must fit in ${USER_DATA_LIMIT} bytes gzipped`);
    return buf.subarray(0, n).toString("utf8");
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--user-data ${file}: cannot read: ${(err as Error).message}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
