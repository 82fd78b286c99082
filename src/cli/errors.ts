/** Exit codes shared by every command (see DESIGN.md). */
export const EXIT = { ok: 0, failure: 1, usage: 2, partial: 3 } as const;

/**
 * A user-facing error: printed as one line `cvm: <message>` with no stack trace
 * (unless --debug). Anything else that escapes is a bug and keeps its stack.
 */
export class CvmError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT.failure) {
    super(message);
    this.name = "CvmError";
  }
}

/** Bad invocation: unknown option, missing argument, malformed value. Exit 2. */
export class UsageError extends CvmError {
  constructor(message: string) {
    super(message, EXIT.usage);
    this.name = "UsageError";
  }
}

/** Ends the command with an exit code and no message (predicates such as `proxy info -exists`). */
export class SilentExit extends CvmError {
  constructor(exitCode: number) {
    super("", exitCode);
    this.name = "SilentExit";
  }
}

/** The code of a Node/Bun system error (ENOENT, EACCES, …), if it is one. */
export function errnoCode(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String((err as { code: unknown }).code) : undefined;
}
