// The stratum client against real servers on loopback: nginx as stratum 1s,
// squid as site proxies, and misbehaving servers from test/hostile. Reads are
// compared byte for byte with the published tree: no corrupt byte may pass.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { cvm, run, CVM } from "./helpers/run";
import { startHostileServer, type HostileServer } from "./hostile/http-server";
import { startNginx, type Nginx } from "./servers/nginx";
import { startSquid, type Squid } from "./servers/squid";
import { haveServers } from "./servers/server-process";

const FQRN = "client.example.org";
const haveBoth = haveServers("nginx", "squid");
let work: string, src: string, storage: string, oldStorage: string, keys: string, etc: string, baseEnv: Record<string, string>;
let a: Nginx, b: Nginx, stale: Nginx;
let p1: Squid, p2: Squid, p3: Squid;
let hostile: HostileServer;
let caseNo = 0;

const FILES = 300;

beforeAll(async () => {
  if (!haveBoth) return; // every test below is skipped (counted)
  work = mkdtempSync(join(tmpdir(), "cvm-stratum-client-"));
  src = join(work, "src"); storage = join(work, "srv", FQRN); keys = join(work, "keys"); etc = join(work, "etc");
  baseEnv = { CVM_CONFIG_DIR: join(work, "publisher"), CVM_STATE_DIR: join(work, "state"), CVM_CONFIG_ROOT: etc };
  mkdirSync(join(src, "nested", "deep"), { recursive: true });
  writeFileSync(join(src, "nested", ".cvmfscatalog"), "");
  for (let i = 0; i < FILES; i++) {
    const dir = i % 7 === 0 ? "nested/deep" : i % 3 ? "nested" : "";
    writeFileSync(join(src, dir, `f${i}.txt`), `file ${i}\n`.repeat(1 + (i % 40)));
  }
  writeFileSync(join(src, "same-1.txt"), "shared content\n");
  writeFileSync(join(src, "same-2.txt"), "shared content\n");
  writeFileSync(join(src, "big.bin"), randomBytes(3 << 20));
  for (const args of [["init", FQRN, "--storage", storage, "--keys", keys], ["sync", FQRN, src]]) {
    const r = await cvm(["publish", ...args], { env: baseEnv });
    if (r.code !== 0) throw new Error(r.stderr);
  }
  // A replica that stops at this revision (a stale stratum 1), then one more revision on the real ones.
  oldStorage = join(work, "old", FQRN);
  cpSync(storage, oldStorage, { recursive: true });
  writeFileSync(join(src, "new-in-rev3.txt"), "the newest revision\n");
  const r = await cvm(["publish", "sync", FQRN, src], { env: baseEnv });
  if (r.code !== 0) throw new Error(r.stderr);

  [a, b, stale] = await Promise.all([startNginx({ storageDirs: { [FQRN]: storage } }), startNginx({ storageDirs: { [FQRN]: storage } }), startNginx({ storageDirs: { [FQRN]: oldStorage } })]);
  [p1, p2, p3] = await Promise.all([startSquid(), startSquid(), startSquid()]);
  hostile = startHostileServer(storage, FQRN);
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(etc, "default.local"), [
    `CVMFS_SERVER_URL="${a.url("@fqrn@")}"`, "CVMFS_HTTP_PROXY=DIRECT", `CVMFS_KEYS_DIR=${keys}`,
    "CVMFS_TIMEOUT=2", "CVMFS_TIMEOUT_DIRECT=2", "CVMFS_MAX_RETRIES=1", "CVMFS_BACKOFF_INIT=0", "CVMFS_BACKOFF_MAX=0",
  ].join("\n") + "\n");
}, 120_000);

afterAll(async () => {
  hostile?.stop();
  await Promise.all([a, b, stale, p1, p2, p3].filter(Boolean).map((s) => s.remove()));
  if (work) rmSync(work, { recursive: true, force: true });
}, 120_000);

/** A fresh cache and rollback state for one case, plus -o settings. */
function client(settings: Record<string, string>) {
  const dir = join(work, `case-${++caseNo}`);
  mkdirSync(dir, { recursive: true });
  const env = { ...baseEnv, CVM_STATE_DIR: join(dir, "state") };
  const opts = Object.entries({ CVMFS_CACHE_BASE: join(dir, "cache"), ...settings }).flatMap(([k, v]) => ["-o", `${k}=${v}`]);
  const fs = (args: string[], extraEnv: Record<string, string> = {}) => cvm(["fs", args[0], FQRN, ...args.slice(1), ...opts], { env: { ...env, ...extraEnv } });
  return { dir, env, opts, fs, cache: join(dir, "cache", "shared") };
}

/** Every file of the exported tree equals the source (the new revision, or the old one). */
function sameAsSource(dest: string, rel = ""): number {
  let n = 0;
  for (const name of readdirSync(join(src, rel))) {
    const from = join(src, rel, name), to = join(dest, rel, name);
    if (name === ".cvmfscatalog") continue;
    if (statSync(from).isDirectory()) { n += sameAsSource(dest, join(rel, name)); continue; }
    expect({ file: join(rel, name), same: existsSync(to) && readFileSync(to).equals(readFileSync(from)) }).toEqual({ file: join(rel, name), same: true });
    n++;
  }
  return n;
}

describe.skipIf(!haveBoth)("the stratum client with nginx and squid", () => {
  test("by name, through a squid group, from nginx: every file equals the source", async () => {
    const c = client({ CVMFS_SERVER_URL: a.url(FQRN), CVMFS_HTTP_PROXY: `${p1.url}|${p2.url}` });
    const dest = join(c.dir, "tree");
    const r = await c.fs(["get", "/", dest]);
    expect(r.code).toBe(0);
    expect(sameAsSource(dest)).toBe(FILES + 4);
    const viaSquid = [...p1.accessLog(), ...p2.accessLog()].filter((e) => e.url.includes(`/cvmfs/${FQRN}/data/`));
    expect(viaSquid.length).toBeGreaterThan(10);
    // Load balancing picks one member and keeps it: all through the same squid.
    expect(p1.accessLog().length === 0 || p2.accessLog().length === 0).toBe(true);
  }, 60_000);

  test("http://A|http://B;http://C with A and B stopped: reads go through C", async () => {
    await Promise.all([p1.stop(), p2.stop()]);
    try {
      const before = p3.accessLog().length;
      const c = client({ CVMFS_SERVER_URL: a.url(FQRN), CVMFS_HTTP_PROXY: `${p1.url}|${p2.url};${p3.url}` });
      const r = await c.fs(["cat", "/new-in-rev3.txt"]);
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe("the newest revision\n");
      expect(p3.accessLog().length).toBeGreaterThan(before);
    } finally {
      await Promise.all([p1.start(), p2.start()]);
    }
  }, 60_000);

  test("hosts that fail, hang, trickle or lie are skipped; nothing corrupt is delivered", async () => {
    const big = JSON.parse((await client({}).fs(["stat", "/big.bin", "--json"])).stdout).hash as string;
    const object = `data/${big.slice(0, 2)}/${big.slice(2)}`;
    const make = () => startHostileServer(storage, FQRN);
    const [e500, silent, trickle, liar] = [make(), make(), make(), make()];
    try {
      e500.rule(() => true, { kind: "status", status: 500 });
      silent.rule((p) => p.startsWith("data/"), { kind: "stall", after: 0 });
      trickle.rule((p) => p === object, { kind: "trickle", bytesPerTick: 1, tickMs: 3000 }); // slower than any timeout
      const corrupt = new Uint8Array(readFileSync(join(storage, object)));
      corrupt[100] ^= 0xff;
      liar.rule((p) => p === object, { kind: "body", bytes: corrupt });
      for (const first of [e500, silent, trickle, liar]) {
        const c = client({ CVMFS_SERVER_URL: `${first.base};${a.url(FQRN)}` });
        const t0 = performance.now();
        const r = await run(["sh", "-c", `'${CVM}' fs cat ${FQRN} /big.bin ${c.opts.map((o) => `'${o}'`).join(" ")} | cmp - '${join(src, "big.bin")}' && echo same`], { env: c.env });
        expect({ server: first.base, out: r.stdout }).toEqual({ server: first.base, out: "same\n" });
        expect(performance.now() - t0).toBeLessThan(20_000);
      }
      // The liar was asked twice (once more with no-cache) before the next host.
      expect(liar.requests.filter((p) => p.endsWith(object))).toHaveLength(2);
    } finally {
      for (const s of [e500, silent, trickle, liar]) s.stop();
    }
  }, 120_000);

  test("a corrupt copy in squid is refetched with no-cache; the corrupt bytes never reach the cache or a reader", async () => {
    const hash = JSON.parse((await client({}).fs(["stat", "/same-1.txt", "--json"])).stdout).hash as string;
    const object = `data/${hash.slice(0, 2)}/${hash.slice(2)}`;
    const origin = startHostileServer(storage, FQRN);
    try {
      let served = 0;
      const good = readFileSync(join(storage, object));
      const bad = new Uint8Array(good);
      bad[bad.length - 1] ^= 0xff;
      origin.rule((p) => p === object && served++ === 0, { kind: "body", bytes: bad }); // the first answer is corrupt, and squid caches it
      const c = client({ CVMFS_SERVER_URL: origin.base, CVMFS_HTTP_PROXY: p3.url });
      const r = await c.fs(["cat", "/same-1.txt"]);
      expect(r.stdout).toBe("shared content\n");
      const log = await p3.waitForAccess((e) => e.url.endsWith(object));
      expect(log.length).toBeGreaterThanOrEqual(2);
      expect(log[log.length - 1].result).toMatch(/REFRESH|MISS/);
      expect(origin.requests.filter((p) => p.endsWith(object))).toHaveLength(2);
    } finally {
      origin.stop();
    }
  }, 60_000);

  test("a stale replica (an older revision than one already seen) is skipped with a warning", async () => {
    const c = client({ CVMFS_SERVER_URL: a.url(FQRN) });
    expect((await c.fs(["ls", "/"])).code).toBe(0); // sees revision 3
    const r = await cvm(["fs", "cat", FQRN, "/new-in-rev3.txt", ...c.opts, "-o", `CVMFS_SERVER_URL=${stale.url(FQRN)};${b.url(FQRN)}`], { env: c.env });
    expect(r.stdout).toBe("the newest revision\n");
    expect(r.stderr).toContain(`${stale.url(FQRN)}: .cvmfspublished is older (revision 2`);
    expect(r.stderr).toContain("skipping this stale replica");
  }, 60_000);

  test("a link planted in the cache is never followed: the catalog is fetched again", async () => {
    const c = client({ CVMFS_SERVER_URL: a.url(FQRN) });
    expect((await c.fs(["ls", "/"])).code).toBe(0);
    const root = JSON.parse((await c.fs(["info", "--json"])).stdout).rootHash as string;
    const entry = join(c.cache, root.slice(0, 2), root.slice(2));
    const decoy = join(c.dir, "decoy.sqlite");
    writeFileSync(decoy, "not the catalog");
    rmSync(entry);
    symlinkSync(decoy, entry);
    const r = await c.fs(["ls", "/"]);
    expect(r.stderr).toBe("");
    expect(r.stdout.split("\n")).toContain("new-in-rev3.txt");
  }, 60_000);

  test("concurrent requests for one object share one download", async () => {
    const c = client({ CVMFS_SERVER_URL: b.url(FQRN) });
    const hash = JSON.parse((await c.fs(["stat", "/same-1.txt", "--json"])).stdout).hash as string;
    const before = b.accessLog().filter((e) => e.uri.endsWith(hash.slice(2))).length;
    expect((await c.fs(["get", "/", join(c.dir, "tree")])).code).toBe(0);
    // A request made after the command has ended is logged after every request of the command.
    await fetch(`${b.url(FQRN)}/sentinel-${caseNo}`);
    await b.waitForAccess((e) => e.uri.endsWith(`/sentinel-${caseNo}`));
    const logged = b.accessLog().filter((e) => e.uri.endsWith(hash.slice(2)));
    expect(logged.length - before).toBe(1); // same-1.txt and same-2.txt: one object, one GET
  }, 60_000);

  test("quota: a tiny limit evicts least recently used entries down to half; reads stay correct", async () => {
    const c = client({ CVMFS_QUOTA_LIMIT: "2" }); // MB; big.bin (3 MB) is too big to cache at all
    const dest = join(c.dir, "tree");
    expect((await c.fs(["get", "/", dest])).code).toBe(0);
    sameAsSource(dest);
    const u = JSON.parse((await cvm(["fs", "cache", FQRN, "--json", ...c.opts], { env: c.env })).stdout);
    expect(u.bytes).toBeLessThanOrEqual(2 << 20);
    expect(u.limitBytes).toBe(2 << 20);
    const clean = await cvm(["fs", "cache", FQRN, "--clean", ...c.opts], { env: c.env });
    expect(clean.stdout).toMatch(/removed \d+ cached objects/);
    expect(JSON.parse((await cvm(["fs", "cache", FQRN, "--json", ...c.opts], { env: c.env })).stdout).entries).toBe(0);
  }, 60_000);

  test("kill -9 in the middle of a download, then again: every cached entry is whole", async () => {
    const c = client({ CVMFS_SERVER_URL: a.url(FQRN), CVM_PARALLEL_DOWNLOADS: "2" });
    const proc = Bun.spawn([CVM, "fs", "get", FQRN, "/", join(c.dir, "killed"), ...c.opts], { env: { ...process.env, ...c.env }, stdout: "ignore", stderr: "ignore" });
    // Kill once the cache holds some entries: the download is certainly under way.
    const deadline = Date.now() + 30_000;
    const entries = () => { try { return readdirSync(c.cache).filter((d) => /^[0-9a-f]{2}$/.test(d)).length; } catch { return 0; } };
    while (entries() < 20 && Date.now() < deadline && proc.exitCode === null) await Bun.sleep(5);
    proc.kill(9);
    await proc.exited;
    expect(proc.signalCode).toBe("SIGKILL");
    expect(existsSync(join(c.dir, "killed"))).toBe(false); // the export was never renamed into place
    const dest = join(c.dir, "tree");
    const r = await c.fs(["get", "/", dest]);
    expect(r.code).toBe(0);
    sameAsSource(dest); // what the cache served after the kill is right
  }, 60_000);

  test("two processes reading the same repository into one cold cache", async () => {
    const c = client({ CVMFS_SERVER_URL: a.url(FQRN) });
    const [r1, r2] = await Promise.all([c.fs(["get", "/", join(c.dir, "one")]), c.fs(["get", "/", join(c.dir, "two")])]);
    expect([r1, r2].map((r) => ({ code: r.code, error: r.stderr.split("\n").filter((l) => l.startsWith("cvm:")) })))
      .toEqual([{ code: 0, error: [] }, { code: 0, error: [] }]);
    sameAsSource(join(c.dir, "one"));
    sameAsSource(join(c.dir, "two"));
  }, 60_000);

  test("a cache another process is setting up: waited for, not an error (SQLite refuses WAL at once while it is held)", async () => {
    const c = client({ CVMFS_SERVER_URL: a.url(FQRN) });
    mkdirSync(c.cache, { recursive: true });
    const holder = new Database(join(c.cache, "cachedb"), { create: true });
    holder.exec("BEGIN IMMEDIATE"); // what a process midway through creating the database holds
    const proc = Bun.spawn([CVM, "-v", "fs", "cat", FQRN, "/same-1.txt", ...c.opts], { env: { ...process.env, ...c.env }, stdout: "pipe", stderr: "pipe" });
    const stdout = new Response(proc.stdout).text();
    let stderr = "";
    const busySeen = (async () => {
      const decoder = new TextDecoder();
      for await (const part of proc.stderr) {
        stderr += decoder.decode(part, { stream: true });
        if (stderr.includes("busy (another process is setting it up)")) return true;
      }
      return false;
    })();
    try {
      expect(await busySeen).toBe(true);
    } finally {
      holder.exec("COMMIT");
      holder.close();
    }
    expect(await proc.exited).toBe(0);
    expect(await stdout).toBe("shared content\n");
  }, 60_000);

  test("offline: with every server down, cached files read with one warning; uncached ones fail within the timeout", async () => {
    const c = client({ CVMFS_SERVER_URL: `${a.url(FQRN)};${b.url(FQRN)}`, CVMFS_TIMEOUT_DIRECT: "1" });
    expect((await c.fs(["cat", "/same-1.txt"])).code).toBe(0);
    await Promise.all([a.stop(), b.stop()]);
    try {
      const r = await c.fs(["cat", "/same-1.txt"]);
      expect(r.stdout).toBe("shared content\n");
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/^warning: client\.example\.org: offline: no server answered; reading revision 3 from the cache/);
      const t0 = performance.now();
      const miss = await c.fs(["cat", "/f3.txt"]);
      expect(miss.code).toBe(1);
      expect(miss.stderr).toContain("/f3.txt: data/");
      expect(miss.stderr).toContain("every server failed");
      expect(performance.now() - t0).toBeLessThan(10_000);
    } finally {
      await Promise.all([a.start(), b.start()]);
    }
  }, 60_000);

  test.skipIf(process.getuid?.() !== 0)("a full disk (a 2 MB tmpfs as the cache): eviction makes room, reads stay correct", async () => {
    const c = client({ CVMFS_SERVER_URL: a.url(FQRN) });
    const mnt = join(c.dir, "cache");
    mkdirSync(mnt, { recursive: true });
    expect((await run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt])).code).toBe(0);
    try {
      // Room for the metadata, not for everything: 3 MB of files plus catalogs into 2 MB.
      writeFileSync(join(mnt, "ballast"), new Uint8Array(600 << 10));
      const dest = join(c.dir, "tree");
      const r = await c.fs(["get", "/", dest]);
      expect(r.stderr).not.toMatch(/internal error|ENOSPC.*at /);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringMatching(/^(warning: cache .*: the device is full even after evicting .*\n)?[^\n]*\n$/) });
      sameAsSource(dest);
    } finally {
      await run(["umount", "-l", mnt]);
    }
  }, 60_000);

  test("probe: each server through each proxy, with its revision", async () => {
    const c = client({ CVMFS_SERVER_URL: `${stale.url(FQRN)};${a.url(FQRN)}`, CVMFS_HTTP_PROXY: `${p3.url};DIRECT` });
    const r = await cvm(["fs", "probe", FQRN, "--json", "--order-by-rtt", ...c.opts], { env: c.env });
    expect(r.code).toBe(0);
    const { results, orderByRtt } = JSON.parse(r.stdout);
    expect(results).toHaveLength(4);
    expect(results.filter((x: { ok: boolean }) => x.ok)).toHaveLength(4);
    expect(results.find((x: { host: string }) => x.host === stale.url(FQRN)).revision).toBe(2);
    expect(results.find((x: { host: string }) => x.host === a.url(FQRN)).revision).toBe(3);
    expect(orderByRtt.sort()).toEqual([stale.url(FQRN), a.url(FQRN)].sort());
  }, 60_000);
});
