import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { CVM, cvm } from "./helpers/run";

const FQRN = "crash.example.org";
let work: string, storage: string, keys: string, src: string, env: Record<string, string>;
const read = (...args: string[]) => cvm(["fs", args[0], storage, "--fqrn", FQRN, "--keys", keys, ...args.slice(1)], { env });

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cvm-crash-"));
  storage = join(work, "srv"); keys = join(work, "keys"); src = join(work, "src");
  env = { CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state") };
  mkdirSync(join(src, "nested"), { recursive: true });
  writeFileSync(join(src, "first.txt"), "revision two\n");
  expect((await cvm(["publish", "init", FQRN, "--storage", storage, "--keys", keys], { env })).code).toBe(0);
  expect((await cvm(["publish", "sync", FQRN, src], { env })).code).toBe(0);
  // the next revision is big enough to take a while
  writeFileSync(join(src, "nested", ".cvmfscatalog"), "");
  writeFileSync(join(src, "nested", "big.bin"), randomBytes(120 << 20));
  for (let i = 0; i < 2000; i++) writeFileSync(join(src, `small-${i}.txt`), `small ${i}\n`);
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("a publish killed at any moment", () => {
  test("leaves the previous revision fully readable, and a rerun completes", async () => {
    for (const delay of [30, 120, 300, 600, 900]) {
      const p = Bun.spawn([CVM, "publish", "sync", FQRN, src], { env: { ...process.env, ...env }, stdout: "ignore", stderr: "ignore" });
      await Bun.sleep(delay);
      p.kill(9);
      await p.exited;
      const info = JSON.parse((await read("info", "--json")).stdout);
      expect([2, 3]).toContain(info.revision);
      const verify = await read("verify", "--json");
      expect({ delay, failures: JSON.parse(verify.stdout).failures }).toEqual({ delay, failures: [] });
      if (info.revision === 2) expect((await read("cat", "/first.txt")).stdout).toBe("revision two\n");
    }
    const rerun = await cvm(["publish", "sync", FQRN, src, "--json"], { env });
    expect(rerun.code).toBe(0);
    expect(JSON.parse((await read("info", "--json")).stdout).revision).toBeGreaterThanOrEqual(3);
    expect(JSON.parse((await read("verify", "--json")).stdout).failures).toEqual([]);
    expect((await read("cat", "/small-1999.txt")).stdout).toBe("small 1999\n");
    expect(readdirSync(join(storage, "data", "txn"))).toEqual([]);
  }, 120_000);
});
