import { CvmError } from "../cli/errors";

/**
 * A repository that cannot be trusted or read: bad signature, expired
 * whitelist, hash mismatch, missing object, malformed catalog. The message
 * names what failed (file/object and reason) in one line.
 */
export class RepositoryError extends CvmError {
  constructor(message: string) {
    super(message, 1);
    this.name = "RepositoryError";
  }
}
