// `cvm demo` is the README's main job: it must run on this machine and fail
// if any step fails. With FUSE (CI runs as root) and without (--no-mount).
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { cvm } from "./helpers/run";
import { CAN_MOUNT } from "./helpers/fuse";

describe("cvm demo", () => {
  test.skipIf(!CAN_MOUNT)("publishes, serves, replicates, mounts, and shows a new revision: every step checked", async () => {
    const t0 = performance.now();
    const r = await cvm(["demo"]);
    const seconds = (performance.now() - t0) / 1000;
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(r.stdout).toContain("✓ mounted through the stratum 1");
    expect(r.stdout).toContain("hello from CernVM-FS");
    expect(r.stdout).toContain("NEWS: revision 3: published while the demo was mounted");
    expect(r.stdout).toMatch(/^demo: 12 steps checked in [\d.]+ s$/m);
    const work = /mounted through the stratum 1 on (\S+)\/cvmfs\//.exec(r.stdout)![1];
    expect(existsSync(work)).toBe(false); // cleaned up
    expect(seconds).toBeLessThan(60);
  }, 120_000);

  test("without a mount, the same tour reads with cvm fs", async () => {
    const r = await cvm(["demo", "--no-mount"]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(r.stdout).toContain("note: --no-mount: the tour reads with cvm fs instead of a mount");
    expect(r.stdout).toContain("NEWS: revision 3");
    expect(r.stdout).toMatch(/^demo: 9 steps checked in [\d.]+ s$/m);
  }, 120_000);
});
