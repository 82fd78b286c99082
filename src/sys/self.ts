import { join } from "node:path";

/**
 * The argv that runs this cvm again: the compiled binary itself. From the
 * sources (`bun test` importing a module) CVM_BINARY names a built binary
 * (the tests give dist/cvm: `cvm mount` in the background needs one), else
 * bun with main.ts.
 */
export function cvmSelf(): string[] {
  if (import.meta.url.includes("/$bunfs/")) return [process.execPath];
  if (process.env.CVM_BINARY) return [process.env.CVM_BINARY];
  return [process.execPath, join(import.meta.dir, "..", "..", "main.ts")];
}
