import { errnoCode } from "../../cli/errors";
import { RepositoryError } from "../errors";

// System errors in words, without Node's "EACCES: …, open '<path>'" wrapping (the caller names the path).
const ERRNO_TEXT: Record<string, string> = {
  ENOENT: "no such file or directory", EACCES: "permission denied", EPERM: "operation not permitted",
  ENOSPC: "no space left on device", EDQUOT: "disk quota exceeded", EROFS: "read-only file system",
  EIO: "input/output error", ELOOP: "is a symbolic link", ENOTDIR: "not a directory", EISDIR: "is a directory",
  EMFILE: "too many open files", ENFILE: "too many open files in the system", ESTALE: "stale file handle",
  EFBIG: "file too large", ENAMETOOLONG: "file name too long",
};

export function describeErrno(err: unknown): string {
  const code = errnoCode(err);
  if (code && ERRNO_TEXT[code]) return ERRNO_TEXT[code];
  if (isStorageFull(err)) return ERRNO_TEXT.ENOSPC;
  const message = typeof err === "object" && err !== null && "message" in err ? String((err as { message: unknown }).message) : String(err);
  return message.replace(/^E[A-Z]+: /, "").replace(/, \w+ '.*'$/, ""); // Node's "EXDEV: cross-device link, rename 'a' -> 'b'"
}

/** Out of space, whether the kernel (ENOSPC, EDQUOT) or SQLite (SQLITE_FULL) says so. */
export function isStorageFull(err: unknown): boolean {
  const code = errnoCode(err);
  const message = typeof err === "object" && err !== null && "message" in err ? String((err as { message: unknown }).message) : "";
  return code === "ENOSPC" || code === "EDQUOT" || code === "SQLITE_FULL" || /database or disk is full/.test(message);
}

/**
 * A failure writing to the storage, named by the storage directory (the device
 * that failed), not by whichever file was being read at the time.
 */
export function storageError(storageDir: string, err: unknown, doing: string): RepositoryError {
  if (err instanceof RepositoryError) return err;
  const hint = isStorageFull(err) ? "; free some space and publish again ('cvm publish gc' removes what this attempt stored)" : "";
  return new RepositoryError(`${storageDir}: ${describeErrno(err)} while ${doing}${hint}`);
}
