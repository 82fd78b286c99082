import { join } from "node:path";

/**
 * The argv that runs this cvm again: the compiled binary itself; from the
 * sources (`bun main.ts`, `bun test` importing a module) bun with main.ts.
 */
export function cvmSelf(): string[] {
  if (import.meta.url.includes("/$bunfs/")) return [process.execPath];
  return [process.execPath, join(import.meta.dir, "..", "..", "main.ts")];
}
