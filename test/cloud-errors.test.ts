import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cvm } from "./helpers/run";
import { Ec2Double } from "./ec2/server";

let work: string, env: Record<string, string>;
let throttled: Ec2Double, silent: Ec2Double;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "cvm-cloud-err-"));
  mkdirSync(join(work, "config"));
  env = { CVM_CONFIG_DIR: join(work, "config"), HOME: work, AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "", AWS_CONFIG_FILE: join(work, "none"), AWS_SHARED_CREDENTIALS_FILE: join(work, "none"), CVM_HTTP_TIMEOUT: "1" };
  throttled = new Ec2Double({ signatureVersion: 4, accessKeyId: "AK", secretAccessKey: "SK", throttle: true }).start();
  silent = new Ec2Double({ signatureVersion: 4, accessKeyId: "AK", secretAccessKey: "SK", silent: true }).start();
  const file = join(work, "config", "regions.ini");
  writeFileSync(file, `[BUSY]\nendpoint = ${throttled.url}\naccess_key = AK\nsecret_key = SK\n\n[HUNG]\nendpoint = ${silent.url}\naccess_key = AK\nsecret_key = SK\n`);
  chmodSync(file, 0o600);
});

afterAll(() => {
  throttled?.stop();
  silent?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("cloud failures are bounded and named", () => {
  test("throttling is retried with backoff by the SDK, then reported in one line", async () => {
    const r = await cvm(["--region", "BUSY", "ls"], { env: { ...env, CVM_HTTP_TIMEOUT: "" } });
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n")[0]).toBe("cvm: BUSY: throttled by the cloud, still after retries (Request limit exceeded.)");
    expect(throttled.requests.length).toBeGreaterThan(1); // it did retry
  }, 60_000);

  test("a cloud that never answers ends after CVM_HTTP_TIMEOUT seconds, in one line", async () => {
    const t0 = Date.now();
    const r = await cvm(["--region", "HUNG", "ls", "-i"], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`cvm: HUNG: endpoint ${silent.url} sent nothing within 1 s (CVM_HTTP_TIMEOUT)\n`);
    expect(Date.now() - t0).toBeLessThan(10_000);
  }, 60_000);
});
