import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cvm } from "./helpers/run";
import { MAX_WHITELIST_DAYS } from "../src/cvmfs/format/whitelist";

// Whitelist lifetimes are capped at 10 years (MAX_WHITELIST_DAYS): beyond it,
// a usage error (exit 2) with one `cvm:` line, and nothing written.
const FQRN = "days.example.org";
let work: string, env: Record<string, string>;
const whitelistExpiry = (storage: string) => {
  const e = readFileSync(join(storage, ".cvmfswhitelist"), "latin1").split("\n")[1]; // E<YYYYMMDDhhmmss>
  return Date.UTC(+e.slice(1, 5), +e.slice(5, 7) - 1, +e.slice(7, 9), +e.slice(9, 11));
};

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "cvm-days-"));
  env = { CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state") };
});
afterAll(() => rmSync(work, { recursive: true, force: true }), 60_000);

describe("whitelist lifetimes", () => {
  test("the cap is ten years", () => expect(MAX_WHITELIST_DAYS).toBe(3650));

  test(`init --whitelist-days ${MAX_WHITELIST_DAYS + 1}: usage error, no storage, keys or config written`, async () => {
    const storage = join(work, "refused-srv"), keys = join(work, "refused-keys");
    const r = await cvm(["publish", "init", FQRN, "--storage", storage, "--keys", keys, "--whitelist-days", String(MAX_WHITELIST_DAYS + 1)], { env });
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n").filter((l) => l.startsWith("cvm:"))).toEqual([`cvm: --whitelist-days '3651': expected a whole number from 1 to 3650`]);
    expect(r.stdout).toBe("");
    for (const path of [storage, keys, join(work, "config")]) expect({ path, exists: existsSync(path) }).toEqual({ path, exists: false });
  });

  test(`init --whitelist-days ${MAX_WHITELIST_DAYS} and resign --days: at the cap accepted, above it refused with the whitelist untouched`, async () => {
    const storage = join(work, "srv"), keys = join(work, "keys");
    const init = await cvm(["publish", "init", FQRN, "--storage", storage, "--keys", keys, "--whitelist-days", String(MAX_WHITELIST_DAYS)], { env });
    expect(init.code).toBe(0);
    expect(Math.round((whitelistExpiry(storage) - Date.now()) / 86400_000)).toBe(MAX_WHITELIST_DAYS);

    const before = readFileSync(join(storage, ".cvmfswhitelist"));
    for (const days of [String(MAX_WHITELIST_DAYS + 1), "99999999999999999999"]) {
      const r = await cvm(["publish", "resign", FQRN, "--days", days], { env });
      expect(r.code).toBe(2);
      expect(r.stderr.split("\n").filter((l) => l.startsWith("cvm:"))).toEqual([`cvm: --days '${days}': expected a whole number from 1 to 3650`]);
      expect(readFileSync(join(storage, ".cvmfswhitelist")).equals(before)).toBe(true);
    }

    const ok = await cvm(["publish", "resign", FQRN, "--days", "1"], { env });
    expect(ok.code).toBe(0);
    expect(Math.round((whitelistExpiry(storage) - Date.now()) / 86400_000)).toBe(1);
  }, 30_000);
});
