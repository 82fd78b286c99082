import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, normalize } from "node:path";
import { cvm } from "./helpers/run";

const FQRN = "http.example.org";
let work: string, storage: string, keys: string, env: Record<string, string>;
let server: ReturnType<typeof Bun.serve>, silent: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cvm-http-"));
  storage = join(work, "srv"); keys = join(work, "keys");
  env = { CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state"), CVM_HTTP_TIMEOUT: "1" };
  const src = join(work, "src");
  mkdirSync(join(src, "sub"), { recursive: true });
  writeFileSync(join(src, "sub", ".cvmfscatalog"), "");
  writeFileSync(join(src, "sub", "over-http.txt"), "served by a stratum\n");
  for (const args of [["init", FQRN, "--storage", storage, "--keys", keys], ["sync", FQRN, src]]) expect((await cvm(["publish", ...args], { env })).code).toBe(0);
  // A stratum as Apache serves it: /cvmfs/<fqrn>/… maps to the storage directory.
  server = Bun.serve({
    port: 0, hostname: "127.0.0.1",
    fetch(req) {
      const path = decodeURIComponent(new URL(req.url).pathname);
      const prefix = `/cvmfs/${FQRN}/`;
      const file = normalize(join(storage, path.slice(prefix.length)));
      if (!path.startsWith(prefix) || !file.startsWith(storage) || !existsSync(file)) return new Response("not found", { status: 404 });
      return new Response(Bun.file(file));
    },
  });
  silent = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Promise<Response>(() => {}) }); // accepts, never answers
}, 60_000);

afterAll(() => {
  server?.stop(true);
  silent?.stop(true);
  rmSync(work, { recursive: true, force: true });
});

const url = () => `http://127.0.0.1:${server.port}/cvmfs/${FQRN}`;

describe("cvm fs over HTTP", () => {
  test("the fqrn comes from the URL; files read across a nested catalog", async () => {
    const r = await cvm(["fs", "cat", url(), "/sub/over-http.txt", "--keys", keys], { env });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("served by a stratum\n");
    const v = await cvm(["fs", "verify", url(), "--keys", keys, "--json"], { env });
    expect(JSON.parse(v.stdout)).toMatchObject({ failures: [], catalogs: 2 });
  });

  test("a missing object is named with its URL", async () => {
    const info = JSON.parse((await cvm(["fs", "stat", url(), "/sub/over-http.txt", "--keys", keys, "--json"], { env })).stdout);
    const object = join(storage, "data", info.hash.slice(0, 2), info.hash.slice(2));
    rmSync(object);
    const r = await cvm(["fs", "cat", url(), "/sub/over-http.txt", "--keys", keys], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`cvm: ${url()}/data/${info.hash.slice(0, 2)}/${info.hash.slice(2)}: not found (HTTP 404)\n`);
  });

  test("a server that never answers times out instead of hanging", async () => {
    const t0 = Date.now();
    const r = await cvm(["fs", "ls", `http://127.0.0.1:${silent.port}/cvmfs/${FQRN}`, "--keys", keys], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\.cvmfspublished: no answer within 1 s/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  test("a location without the name needs --fqrn", async () => {
    const r = await cvm(["fs", "ls", `http://127.0.0.1:${server.port}/`, "--keys", keys], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toStartWith(`cvm: http://127.0.0.1:${server.port}/: cannot tell the repository name from this location; give --fqrn`);
  });
});
