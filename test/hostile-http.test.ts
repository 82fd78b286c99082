// What a broken or malicious stratum server can do to `cvm fs`: cost a failed
// read within the timeout and bounded memory, never a hang, a wrong byte or a
// stack trace.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { CVM, cvm, run } from "./helpers/run";
import { startHostileServer, type HostileServer } from "./hostile/http-server";

const FQRN = "hostile.example.org";
const TIMEOUT_S = 1;
let work: string, storage: string, keys: string, env: Record<string, string>;
let server: HostileServer, other: HostileServer;
let big: Buffer;
const hasTime = existsSync("/usr/bin/time");

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cvm-hostile-http-"));
  storage = join(work, "srv"); keys = join(work, "keys");
  env = { CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state"), CVM_HTTP_TIMEOUT: String(TIMEOUT_S) };
  const src = join(work, "src");
  mkdirSync(join(src, "sub"), { recursive: true });
  writeFileSync(join(src, "hello.txt"), "hello, world\n");
  writeFileSync(join(src, "sub", ".cvmfscatalog"), "");
  writeFileSync(join(src, "sub", "inner.txt"), "nested\n");
  big = randomBytes(3 << 20);
  writeFileSync(join(src, "big.bin"), big);
  for (const args of [["init", FQRN, "--storage", storage, "--keys", keys], ["sync", FQRN, src]]) {
    const r = await cvm(["publish", ...args], { env });
    if (r.code !== 0) throw new Error(r.stderr);
  }
  server = startHostileServer(storage, FQRN);
  other = startHostileServer(storage, FQRN);
}, 60_000);

afterAll(() => {
  server?.stop();
  other?.stop();
  rmSync(work, { recursive: true, force: true });
}, 60_000);

const fs = (args: string[], base = server.base) => cvm(["fs", args[0], base, "--keys", keys, ...args.slice(1)], { env });

/** Runs cvm under GNU time: peak RSS (MB) and wall time (s) of the refusal. */
async function measured(args: string[]) {
  const r = await run(["/usr/bin/time", "-f", "TIME %M %e", CVM, "fs", args[0], server.base, "--keys", keys, ...args.slice(1)], { env });
  const m = /TIME (\d+) ([\d.]+)\s*$/.exec(r.stderr)!;
  return { ...r, stderr: r.stderr.slice(0, m.index).replace(/^Command exited with non-zero status \d+\n/m, ""), rssMb: Number(m[1]) / 1024, seconds: Number(m[2]) };
}

function oneLine(stderr: string) {
  expect(stderr.trim().split("\n")).toHaveLength(1);
  expect(stderr).toStartWith("cvm: ");
  expect(stderr).not.toMatch(/internal error|TypeError|RangeError|^\s+at /m);
}

const bigHashPath = async () => {
  server.clear();
  const info = JSON.parse((await fs(["stat", "/big.bin", "--json"])).stdout);
  return `data/${info.hash.slice(0, 2)}/${info.hash.slice(2)}`;
};

describe("a hostile stratum server", () => {
  test("pristine: the big file reads byte for byte", async () => {
    server.clear();
    const r = await run([CVM, "fs", "cat", server.base, "/big.bin", "--keys", keys], { env });
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
  });

  test.skipIf(!hasTime)("gzip bomb: a Content-Encoding the client did not ask for is refused before reading", async () => {
    server.clear();
    server.rule((p) => p === ".cvmfspublished", { kind: "gzip-bomb" });
    const r = await measured(["ls", "/"]);
    expect(r.code).toBe(1);
    oneLine(r.stderr);
    expect(r.stderr).toContain(".cvmfspublished: the server sent Content-Encoding 'gzip' although cvm asked for identity");
    expect(r.rssMb).toBeLessThan(100);
    console.log(`gzip bomb: refused in ${r.seconds} s, peak RSS ${r.rssMb.toFixed(1)} MB`);
  });

  test.skipIf(!hasTime)("endless body: stops at the size cap with one line", async () => {
    server.clear();
    server.rule((p) => p === ".cvmfspublished", { kind: "endless" });
    const r = await measured(["ls", "/"]);
    expect(r.code).toBe(1);
    oneLine(r.stderr);
    expect(r.stderr).toMatch(/\.cvmfspublished: the answer is larger than the 256 KiB allowed for it/);
    expect(r.rssMb).toBeLessThan(100);
    expect(r.seconds).toBeLessThan(TIMEOUT_S + 5);
    console.log(`endless body: refused in ${r.seconds} s, peak RSS ${r.rssMb.toFixed(1)} MB`);
  });

  test.skipIf(!hasTime)("an endless data object stops at what the catalog implies", async () => {
    const object = await bigHashPath();
    server.rule((p) => p === object, { kind: "endless" });
    const r = await measured(["cat", "/big.bin"]);
    expect(r.code).toBe(1);
    oneLine(r.stderr);
    expect(r.stderr).toContain(`${object}: the answer is larger than the`);
    expect(r.stdout).toBe("");
    expect(r.rssMb).toBeLessThan(150);
  });

  test.skipIf(!hasTime)("60 MB whitelist of comment lines: refused at the cap, not parsed", async () => {
    server.clear();
    server.rule((p) => p === ".cvmfswhitelist", { kind: "comment-lines", bytes: 60 << 20 });
    const r = await measured(["ls", "/"]);
    expect(r.code).toBe(1);
    oneLine(r.stderr);
    expect(r.stderr).toMatch(/\.cvmfswhitelist: the answer is larger than the 256 KiB allowed for it/);
    expect(r.rssMb).toBeLessThan(100);
    console.log(`60 MB whitelist: refused in ${r.seconds} s, peak RSS ${r.rssMb.toFixed(1)} MB`);
  });

  test("a slow but steady server completes: the timeout is for silence, not for the whole transfer", async () => {
    const object = await bigHashPath();
    // 3 MiB at 64 KiB every 40 ms ≈ 1.9 s in total, well past the 1 s timeout, never silent for 1 s.
    server.rule((p) => p === object, { kind: "trickle", bytesPerTick: 64 << 10, tickMs: 40 });
    const t0 = performance.now();
    const r = await run(["sh", "-c", `'${CVM}' fs cat '${server.base}' /big.bin --keys '${keys}' | cmp - '${join(work, "src", "big.bin")}' && echo same`], { env });
    const seconds = (performance.now() - t0) / 1000;
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("same\n");
    expect(seconds).toBeGreaterThan(TIMEOUT_S);
  }, 30_000);

  test("a server that stops sending mid-body fails within the timeout", async () => {
    const object = await bigHashPath();
    server.rule((p) => p === object, { kind: "stall", after: 100_000 });
    const t0 = performance.now();
    const r = await fs(["cat", "/big.bin"]);
    const seconds = (performance.now() - t0) / 1000;
    expect(r.code).toBe(1);
    oneLine(r.stderr);
    expect(r.stderr).toContain(`${object}: stalled: no data for ${TIMEOUT_S} s`);
    expect(r.stdout).toBe("");
    expect(seconds).toBeLessThan(TIMEOUT_S + 4);
  });

  test("redirects: followed to another http server, refused to another protocol or in a loop", async () => {
    const object = await bigHashPath();
    server.rule((p) => p === object, { kind: "redirect", location: `${other.base}/${object}` });
    other.clear();
    let r = await run([CVM, "fs", "cat", server.base, "/big.bin", "--keys", keys], { env });
    expect(r.code).toBe(0);
    expect(other.requests).toContain(`/cvmfs/${FQRN}/${object}`);

    server.clear();
    server.rule((p) => p === ".cvmfspublished", { kind: "redirect", location: "ftp://127.0.0.1/x" });
    r = await fs(["ls", "/"]);
    expect(r.code).toBe(1);
    oneLine(r.stderr);
    expect(r.stderr).toContain(".cvmfspublished: HTTP 302 redirect to 'ftp://127.0.0.1/x': only http and https are followed");

    server.clear();
    server.rule((p) => p === ".cvmfspublished", { kind: "redirect", location: `${server.base}/.cvmfspublished` });
    r = await fs(["ls", "/"]);
    expect(r.code).toBe(1);
    oneLine(r.stderr);
    expect(r.stderr).toContain("more than 4 redirects");
  });

  test("a captive portal's 200 text/html is not a repository", async () => {
    server.clear();
    server.rule((p) => p === ".cvmfspublished", { kind: "html" });
    const r = await fs(["ls", "/"]);
    expect(r.code).toBe(1);
    oneLine(r.stderr);
    expect(r.stderr).toContain(".cvmfspublished: no '--' line: not a signed CernVM-FS file");
  });

  test("500 and 404 are named with their URL", async () => {
    server.clear();
    server.rule((p) => p === ".cvmfswhitelist", { kind: "status", status: 500 });
    const r = await fs(["ls", "/"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`cvm: ${server.base}/.cvmfswhitelist: HTTP 500 Internal Server Error\n`);
  });

  test("a corrupt object is refused and nothing of it is printed", async () => {
    const object = await bigHashPath();
    const bytes = readFileSync(join(storage, object));
    const bad = new Uint8Array(bytes);
    bad[bad.length >> 1] ^= 0xff;
    server.rule((p) => p === object, { kind: "body", bytes: bad });
    const r = await fs(["cat", "/big.bin"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("content hash mismatch");
  });
});
