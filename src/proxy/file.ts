import { closeSync, constants, fstatSync, fsyncSync, lstatSync, openSync, unlinkSync, writeSync } from "node:fs";
import { CvmError, errnoCode } from "../cli/errors";
import { writeFileAtomic } from "../sys/atomic";

/** X509_USER_PROXY, then /tmp/x509up_u<uid>, as every grid tool looks. */
export function defaultProxyPath(env = process.env): string {
  return env.X509_USER_PROXY || `/tmp/x509up_u${process.getuid?.() ?? 0}`;
}

/** Mode 0600 from creation; an old proxy is replaced only once the new one is complete. */
export function writeProxyFile(path: string, text: string): void {
  try {
    writeFileAtomic(path, text, 0o600);
  } catch (err) {
    throw new CvmError(`${path}: cannot write the proxy: ${(err as Error).message}`);
  }
}

/** Overwrites the proxy's key material with zeros before unlinking it, as grid-proxy-destroy does. */
export function destroyProxyFile(path: string): void {
  try {
    if (!lstatSync(path).isFile()) throw new CvmError(`${path}: not a regular file; refusing to remove it`);
  } catch (err) {
    if (err instanceof CvmError) throw err;
    if (errnoCode(err) === "ENOENT") throw new CvmError(`${path}: no proxy file there`);
    throw new CvmError(`${path}: ${(err as Error).message}`);
  }
  try {
    // O_NOFOLLOW: a link put in the file's place after the lstat is not followed
    const fd = openSync(path, constants.O_RDWR | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new CvmError(`${path}: not a regular file; refusing to remove it`);
      const zeros = Buffer.alloc(Math.min(st.size, 1 << 16));
      for (let at = 0; at < st.size; ) at += writeSync(fd, zeros, 0, Math.min(zeros.length, st.size - at), at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    unlinkSync(path);
  } catch (err) {
    if (err instanceof CvmError) throw err;
    throw new CvmError(`${path}: cannot remove the proxy: ${(err as Error).message}`);
  }
}
