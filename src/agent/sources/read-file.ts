import { closeSync, constants, fstatSync, openSync } from "node:fs";
import { CvmError, errnoCode } from "../../cli/errors";
import { readFull } from "../../sys/read-full";

/**
 * A regular file of at most `max` bytes, or null when it does not exist. A
 * link in the last place is not followed (O_NOFOLLOW), a FIFO or device is
 * refused by type before any read.
 */
export function readSmallFile(path: string, max: number): Buffer | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    if (code === "ELOOP") throw new CvmError(`${path}: is a symbolic link; not followed`);
    throw new CvmError(`${path}: cannot read: ${(err as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new CvmError(`${path}: not a regular file`);
    const buf = Buffer.alloc(Math.min(st.size, max) + 1);
    const at = readFull(fd, buf);
    if (at > max) throw new CvmError(`${path}: larger than ${max} bytes`);
    return buf.subarray(0, at);
  } finally {
    closeSync(fd);
  }
}

/** Standard input, at most `max` bytes. */
export async function readStdin(max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of Bun.stdin.stream()) {
    total += chunk.length;
    if (total > max) throw new CvmError(`--user-data -: more than ${max} bytes on standard input`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}
