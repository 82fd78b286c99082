import { CvmError } from "../cli/errors";

/** EC2 takes 16 KiB; context disks and files may hold more, but user_data is never near this. */
export const USER_DATA_MAX = 1 << 20;
/** What gzip'd user_data may inflate to: a bomb stops here. */
export const INFLATED_MAX = 4 << 20;

export const isGzip = (b: Uint8Array) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

export function gunzip(b: Uint8Array, what: string): Buffer {
  try {
    // loaded on demand: most user_data is not gzipped
    const { gunzipSync } = require("node:zlib") as typeof import("node:zlib");
    return gunzipSync(b, { maxOutputLength: INFLATED_MAX });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ERR_BUFFER_TOO_LARGE" || /too large|maxOutputLength/i.test((err as Error).message))
      throw new CvmError(`${what}: gzip data inflates to more than ${INFLATED_MAX} bytes`);
    throw new CvmError(`${what}: not valid gzip data (${(err as Error).message.replace(/^.*?: /, "")})`);
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Strict base64 (whitespace between groups allowed): anything else is an error naming `what`, not garbage bytes. */
export function decodeBase64(text: string, what: string): Buffer {
  const s = text.replace(/\s+/g, "");
  if (s.length % 4 !== 0 || !BASE64.test(s)) throw new CvmError(`${what}: not valid base64`);
  return Buffer.from(s, "base64");
}

/**
 * Bytes as latin1 text, one character per byte, so that what is cut out of it
 * (a script) turns back into the very bytes sent; a NUL byte means binary,
 * which user_data never is.
 */
export function asText(b: Uint8Array, what: string): string {
  const text = Buffer.from(b).toString("latin1");
  if (text.includes("\0")) throw new CvmError(`${what}: binary data, not text user_data`);
  return text;
}
