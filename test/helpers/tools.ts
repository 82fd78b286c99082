import { test } from "bun:test";

/**
 * Tests against real components need them installed (.ci/run installs them).
 * Locally they are skipped when missing; with CVM_REQUIRE_TOOLS=1 (CI) a
 * missing tool fails the run instead of silently skipping.
 */
export function hasTools(...names: string[]): boolean {
  const missing = names.filter((n) => !Bun.which(n));
  if (missing.length && process.env.CVM_REQUIRE_TOOLS === "1") throw new Error(`required tools missing: ${missing.join(", ")}`);
  return missing.length === 0;
}

export const testWith = (...names: string[]) => (hasTools(...names) ? test : test.skip);
