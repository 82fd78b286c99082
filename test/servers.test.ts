import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cvm, run } from "./helpers/run";
import { hasTools } from "./helpers/tools";
import { portAccepts } from "./servers/free-port";
import { startNginx, type Nginx } from "./servers/nginx";
import { haveServers } from "./servers/server-process";
import { startSquid, type Squid } from "./servers/squid";

// Self-test of the real-server infrastructure the stratum client is tested
// with: nginx as two stratum 1s serving a repository published by cvm, squid
// in front as the site proxy.

const available = haveServers("nginx", "squid") && hasTools("curl");
const FQRN = "servers.example.org";
let work: string, storage: string, keys: string, env: Record<string, string>;
let a: Nginx | undefined, b: Nginx | undefined, squid: Squid | undefined;
let objectPath: string; // data/xx/… of /sub/hello.txt

beforeAll(async () => {
  if (!available) return;
  work = mkdtempSync(join(tmpdir(), "cvm-servers-"));
  storage = join(work, "srv");
  keys = join(work, "keys");
  env = { CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state"), CVM_HTTP_TIMEOUT: "2" };
  const src = join(work, "src");
  mkdirSync(join(src, "sub"), { recursive: true });
  writeFileSync(join(src, "sub", ".cvmfscatalog"), "");
  writeFileSync(join(src, "sub", "hello.txt"), "hello through nginx\n");
  writeFileSync(join(src, "top.txt"), "top\n");
  for (const args of [["init", FQRN, "--storage", storage, "--keys", keys], ["sync", FQRN, src]]) {
    const r = await cvm(["publish", ...args], { env });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  }
  const stat = await cvm(["fs", "stat", storage, "/sub/hello.txt", "--fqrn", FQRN, "--keys", keys, "--json"], { env });
  expect(stat.stderr).toBe("");
  const info = JSON.parse(stat.stdout);
  objectPath = `data/${info.hash.slice(0, 2)}/${info.hash.slice(2)}`;
  [a, b, squid] = await Promise.all([startNginx({ storageDirs: { [FQRN]: storage } }), startNginx({ storageDirs: { [FQRN]: storage } }), startSquid()]);
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.remove(), b?.remove(), squid?.remove()]);
  if (work) rmSync(work, { recursive: true, force: true });
}, 30_000);

// curl direct (no proxy, whatever the environment says) or through our squid
// ("--noproxy ''" so that a NO_PROXY of 127.0.0.1 in the environment cannot bypass it).
const curlWith = (noproxy: string, args: string[]) => run(["curl", "--silent", "--show-error", "--max-time", "10", "--noproxy", noproxy, ...args]);
const curl = (args: string[]) => curlWith("*", args);
const viaSquid = (args: string[]) => curlWith("", ["--proxy", squid!.url, ...args]);

function headers(raw: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of raw.split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) map.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return map;
}

const head = async (url: string, extra: string[] = []) => {
  const r = await curl(["--head", ...extra, url]);
  expect(r.stderr).toBe("");
  return { status: Number(r.stdout.split(" ")[1]), headers: headers(r.stdout) };
};

describe("test/servers: nginx as stratum 1, squid as site proxy", () => {
  test.skipIf(!available)("cvm reads the published repository from each of two nginx instances", async () => {
    expect(a!.port).not.toBe(b!.port);
    for (const server of [a!, b!]) {
      const r = await cvm(["fs", "cat", server.url(FQRN), "/sub/hello.txt", "--keys", keys], { env });
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe("hello through nginx\n");
      const logged = await server.waitForAccess((e) => e.uri === `/cvmfs/${FQRN}/${objectPath}`);
      expect(logged[0]).toMatchObject({ method: "GET", status: 200, via: "" });
    }
  });

  test.skipIf(!available)("headers as upstream's Apache config: 61 s for .cvmfs* files, days for data/, no validators", async () => {
    for (const file of [".cvmfspublished", ".cvmfswhitelist"]) {
      const r = await head(`${a!.url(FQRN)}/${file}`);
      expect(r.status).toBe(200);
      expect(r.headers.get("cache-control")).toBe("max-age=61");
      expect(r.headers.get("content-type")).toBe("application/x-cvmfs");
      const expires = Date.parse(r.headers.get("expires")!) - Date.parse(r.headers.get("date")!);
      expect(expires).toBe(61_000);
    }
    const data = await head(`${a!.url(FQRN)}/${objectPath}`);
    expect(data.status).toBe(200);
    expect(data.headers.get("cache-control")).toBe("max-age=259200");
    expect(data.headers.get("content-type")).toBe("application/octet-stream");
    for (const r of [data, await head(`${a!.url(FQRN)}/.cvmfspublished`)]) {
      expect(r.headers.has("last-modified")).toBe(false);
      expect(r.headers.has("etag")).toBe(false);
    }
    // No listings, and nothing outside /cvmfs/<fqrn>/.
    for (const path of [`/cvmfs/${FQRN}/data/`, `/cvmfs/${FQRN}/data`, `/cvmfs/${FQRN}/data/00/missing`, `/cvmfs/other.example.org/.cvmfspublished`, "/", "/cvmfs/"]) {
      expect(`${path} ${(await head(`${a!.base}${path}`)).status}`).toBe(`${path} 404`);
    }
  });

  test.skipIf(!available)("squid caches a data object (HIT) and refetches it on Cache-Control/Pragma: no-cache", async () => {
    const url = `${a!.url(FQRN)}/${objectPath}`;
    const fromNginx = () => a!.accessLog().filter((e) => e.uri === `/cvmfs/${FQRN}/${objectPath}` && e.via.includes("squid"));
    const direct = await curl(["--output", "-", url]);
    for (let i = 0; i < 2; i++) {
      const r = await viaSquid(["--output", "-", url]);
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe(direct.stdout);
    }
    const twice = await squid!.waitForAccess((e) => e.url === url, { count: 2 });
    expect(twice.map((e) => e.result.replace("TCP_MEM_HIT", "TCP_HIT"))).toEqual(["TCP_MISS", "TCP_HIT"]);
    expect(fromNginx()).toHaveLength(1);

    const refetch = await viaSquid(["--header", "Cache-Control: no-cache", "--header", "Pragma: no-cache", "--output", "-", url]);
    expect(refetch.stdout).toBe(direct.stdout);
    await a!.waitForAccess((e) => e.uri === `/cvmfs/${FQRN}/${objectPath}` && e.cacheControl === "no-cache");
    const results = (await squid!.waitForAccess((e) => e.url === url, { count: 3 })).map((e) => e.result);
    expect(results).toHaveLength(3);
    expect(results[2]).toMatch(/MISS|REFRESH/);
    expect(fromNginx()).toHaveLength(2);
    expect(fromNginx()[1]).toMatchObject({ cacheControl: "no-cache", pragma: "no-cache", status: 200 });
  });

  test.skipIf(!available)("squid serves only loopback destinations", async () => {
    const r = await viaSquid(["--output", "/dev/null", "--write-out", "%{http_code}", "http://192.0.2.1/cvmfs/x/.cvmfspublished"]);
    expect(r.stdout).toBe("403");
    await squid!.waitForAccess((e) => e.url === "http://192.0.2.1/cvmfs/x/.cvmfspublished" && e.result === "TCP_DENIED");
  });

  test.skipIf(!available)("an nginx stops (all its processes, idempotently) and starts again on the same port", async () => {
    const server = b!;
    const port = server.port;
    const processes = server.processes();
    expect(processes.length).toBeGreaterThanOrEqual(2); // master and worker (and the watchdog)
    await Promise.all([server.stop(), server.stop()]);
    await server.stop();
    expect(server.running).toBe(false);
    expect(processes.filter((pid) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z "))).toEqual([]);
    expect(await portAccepts(port)).toBe(false);

    const down = await cvm(["fs", "cat", server.url(FQRN), "/top.txt", "--keys", keys], { env });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`127.0.0.1:${port}`);
    // Through squid a dead host is a 503 marked as squid's own error (what the client classifies as a proxy-side answer).
    const proxied = await viaSquid(["--head", `${server.url(FQRN)}/.cvmfspublished`]);
    expect(proxied.stdout).toStartWith("HTTP/1.1 503");
    expect(headers(proxied.stdout).get("x-squid-error")).toStartWith("ERR_CONNECT_FAIL");

    await server.start();
    expect(server.port).toBe(port);
    expect(server.running).toBe(true);
    const up = await cvm(["fs", "cat", server.url(FQRN), "/top.txt", "--keys", keys], { env });
    expect(up.stderr).toBe("");
    expect(up.stdout).toBe("top\n");
  });

  test.skipIf(!available)("a killed squid starts again on the same port with an empty cache", async () => {
    const url = `${a!.url(FQRN)}/.cvmfspublished`;
    const port = squid!.port;
    for (let i = 0; i < 2; i++) expect((await viaSquid(["--output", "/dev/null", url])).stderr).toBe("");
    await squid!.waitForAccess((e) => e.url === url && e.result.includes("HIT"));
    await squid!.kill();
    expect(squid!.processes()).toEqual([]);
    expect(await portAccepts(port)).toBe(false);
    await squid!.start();
    expect(squid!.port).toBe(port);
    expect((await viaSquid(["--output", "/dev/null", url])).stderr).toBe("");
    const logged = await squid!.waitForAccess((e) => e.url === url, { count: 3 });
    expect(logged.map((e) => e.result.replace("TCP_MEM_HIT", "TCP_HIT"))).toEqual(["TCP_MISS", "TCP_HIT", "TCP_MISS"]);
  });

  test.skipIf(!available)("a failed start names the server and quotes its log", async () => {
    // The port of a running nginx: squid cannot bind it.
    await expect(startSquid({ port: a!.port })).rejects.toThrow(/squid .* exited with status 1 while starting; its log:\n[^]*Address already in use/);
  });
});
