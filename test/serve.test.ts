// cvm serve, through the compiled binary: the headers a stratum must send
// (compared with nginx configured as upstream's Apache), ranges, HEAD, 404s,
// requests that try to leave the storage (sent raw, so no client tidies the
// path first), two repositories at once, the geo API, and the stratum client
// reading through it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, closeSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { createHash, randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { CVM, cvm } from "./helpers/run";
import { parseGeoReply } from "../src/cvmfs/client/geo";
import { parseRange } from "../src/cvmfs/serve/range";
import { parseRequestPath } from "../src/cvmfs/serve/request-path";
import { fileOpener, openInside } from "../src/cvmfs/serve/open-file";
import { startNginx, type Nginx } from "./servers/nginx";
import { haveServers } from "./servers/server-process";

const A = "serve-a.example.org", B = "serve-b.example.org";
const SECRET = "top secret outside the storage\n";
let work: string, keys: string, storageA: string, storageB: string, src: string, env: Record<string, string>;
let server: { proc: Subprocess<"ignore", "pipe", "pipe">; base: string; urls: Map<string, string>; stderr: () => string };
let outDir: string;  // data/<outDir> is a link to a directory outside the storage
let bigChunk: string; // a chunk object larger than what cvm serve reads whole: streamed

/** Starts `cvm serve` and reads the URL lines it prints first. */
async function startServe(args: string[]): Promise<typeof server> {
  const proc = Bun.spawn([CVM, "serve", "--listen", "127.0.0.1:0", ...args], { env: { ...process.env, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let err = "";
  void (async () => { for await (const c of proc.stderr) err += new TextDecoder().decode(c); })();
  const urls = new Map<string, string>();
  let out = "";
  const reader = proc.stdout.getReader();
  const deadline = performance.now() + 10_000;
  while (urls.size < args.filter((a) => !a.startsWith("-")).length) {
    if (performance.now() > deadline) throw new Error(`cvm serve printed no URLs: ${out} ${err}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`cvm serve exited: ${out} ${err}`);
    out += new TextDecoder().decode(value);
    for (const line of out.split("\n").slice(0, -1)) {
      const url = line.split("\t")[0];
      urls.set(url.slice(url.lastIndexOf("/") + 1), url);
    }
  }
  reader.releaseLock();
  const first = [...urls.values()][0];
  return { proc, base: first.slice(0, first.indexOf("/cvmfs/")), urls, stderr: () => err };
}

/** One request sent as raw bytes (the path exactly as written); the status line and the body. */
function rawRequest(base: string, target: string, method = "GET"): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let data = "";
    socket.on("connect", () => socket.write(`${method} ${target} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`));
    socket.on("data", (d) => (data += d.toString("latin1")));
    socket.on("end", () => resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(data)?.[1] ?? 0), body: data.slice(data.indexOf("\r\n\r\n") + 4) }));
    socket.on("error", reject);
    setTimeout(() => { socket.destroy(); reject(new Error(`no answer to ${target}`)); }, 5000);
  });
}

const objects = (storage: string) => readdirSync(join(storage, "data")).filter((d) => d.length === 2)
  .flatMap((d) => readdirSync(join(storage, "data", d)).map((f) => `data/${d}/${f}`));

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cvm-serve-"));
  keys = join(work, "keys"); src = join(work, "src");
  storageA = join(work, "srv", A); storageB = join(work, "srv", B);
  env = { CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state") };
  mkdirSync(join(src, "nested"), { recursive: true });
  writeFileSync(join(src, "nested", ".cvmfscatalog"), "");
  for (let i = 0; i < 50; i++) writeFileSync(join(src, i % 2 ? "nested" : "", `f${i}.txt`), `file ${i}\n`.repeat(i + 1));
  writeFileSync(join(src, "big.bin"), randomBytes(20 << 20)); // over the 16 MiB chunk maximum, so always chunked: pieces of several MB, streamed by the server
  for (const [fqrn, storage] of [[A, storageA], [B, storageB]]) {
    for (const args of [["init", fqrn, "--storage", storage, "--keys", keys], ["sync", fqrn, src]]) {
      const r = await cvm(["publish", ...args], { env });
      if (r.code !== 0) throw new Error(r.stderr);
    }
  }
  // Links out of the storage (must never be served) and one inside it (may be).
  writeFileSync(join(work, "srv", "secret"), SECRET);
  symlinkSync("../secret", join(storageA, ".cvmfsleak"));
  mkdirSync(join(storageA, "data", "ee"), { recursive: true });
  symlinkSync(join(work, "srv", "secret"), join(storageA, "data", "ee", "e".repeat(38)));
  // a directory link out: data/XX/fff… would be the secret
  mkdirSync(join(work, "srv", "outside"));
  writeFileSync(join(work, "srv", "outside", "f".repeat(38)), SECRET);
  outDir = readdirSync(join(storageA, "data")).find((d) => d.length === 2 && readdirSync(join(storageA, "data", d)).length === 0)!;
  rmSync(join(storageA, "data", outDir), { recursive: true });
  symlinkSync(join(work, "srv", "outside"), join(storageA, "data", outDir));
  const published = readFileSync(join(storageA, ".cvmfspublished"), "latin1");
  const root = /^C([0-9a-f]{40})$/m.exec(published)![1];
  symlinkSync(`data/${root.slice(0, 2)}/${root.slice(2)}C`, join(storageA, `.cvmfsalt-${root}C`));
  writeFileSync(join(storageA, "README"), "not a repository file\n");
  bigChunk = objects(storageA).filter((p) => p.endsWith("P")).sort((x, y) => statSync(join(storageA, y)).size - statSync(join(storageA, x)).size)[0];
  server = await startServe([storageA, storageB]);
}, 60_000);

afterAll(() => {
  server?.proc.kill("SIGKILL");
  if (work) rmSync(work, { recursive: true, force: true });
}, 30_000);

const url = (fqrn: string, path: string) => `${server.urls.get(fqrn)}/${path}`;
const someObject = () => objects(storageA).find((p) => !p.endsWith("P") && !p.endsWith("C") && statSync(join(storageA, p)).size > 100)!;

describe("cvm serve: headers", () => {
  test("a .cvmfs file: application/x-cvmfs, max-age=61 with Expires, ETag is the content's SHA-1, Last-Modified the file's", async () => {
    const r = await fetch(url(A, ".cvmfspublished"));
    const bytes = new Uint8Array(await r.arrayBuffer());
    expect(r.status).toBe(200);
    expect(bytes).toEqual(new Uint8Array(readFileSync(join(storageA, ".cvmfspublished"))));
    expect(r.headers.get("content-type")).toBe("application/x-cvmfs");
    expect(r.headers.get("cache-control")).toBe("max-age=61");
    expect(Date.parse(r.headers.get("expires")!) - Date.parse(r.headers.get("date")!)).toBeWithin(60_000, 62_001);
    expect(r.headers.get("etag")).toBe(`"${createHash("sha1").update(bytes).digest("hex")}"`);
    expect(r.headers.get("last-modified")).toBe(new Date(Math.floor(statSync(join(storageA, ".cvmfspublished")).mtimeMs / 1000) * 1000).toUTCString());
  });

  test("a data object: application/octet-stream for 3 days, ETag is its name (the same on every replica)", async () => {
    const path = someObject();
    const r = await fetch(url(A, path));
    expect(r.status).toBe(200);
    expect(new Uint8Array(await r.arrayBuffer())).toEqual(new Uint8Array(readFileSync(join(storageA, path))));
    expect(r.headers.get("content-type")).toBe("application/octet-stream");
    expect(r.headers.get("cache-control")).toBe("max-age=259200");
    expect(Date.parse(r.headers.get("expires")!) - Date.parse(r.headers.get("date")!)).toBeWithin(259_199_000, 259_201_001);
    expect(r.headers.get("etag")).toBe(`"${path.slice(5).replace("/", "")}"`);
  });

  test("If-None-Match with the ETag: 304, no body; If-Modified-Since alone is not honoured (200)", async () => {
    const first = await fetch(url(A, ".cvmfswhitelist"));
    await first.arrayBuffer();
    const again = await fetch(url(A, ".cvmfswhitelist"), { headers: { "If-None-Match": first.headers.get("etag")! } });
    expect(again.status).toBe(304);
    expect((await again.arrayBuffer()).byteLength).toBe(0);
    expect(again.headers.get("cache-control")).toBe("max-age=61");
    const byDate = await fetch(url(A, ".cvmfswhitelist"), { headers: { "If-Modified-Since": new Date(Date.now() + 86400_000).toUTCString() } });
    expect(byDate.status).toBe(200);
    await byDate.arrayBuffer();
  });

  test.skipIf(!haveServers("nginx"))("Content-Type, Cache-Control and Expires are the ones nginx sends with upstream's Apache settings", async () => {
    const nginx: Nginx = await startNginx({ storageDirs: { [A]: storageA } });
    try {
      for (const path of [".cvmfspublished", ".cvmfswhitelist", someObject(), bigChunk]) {
        const [ours, theirs] = await Promise.all([fetch(url(A, path), { method: "HEAD" }), fetch(`${nginx.url(A)}/${path}`, { method: "HEAD" })]);
        const view = (r: Response) => ({
          path, status: r.status, type: r.headers.get("content-type"), cache: r.headers.get("cache-control"), length: r.headers.get("content-length"),
          expiresIn: Math.round((Date.parse(r.headers.get("expires")!) - Date.parse(r.headers.get("date")!)) / 1000),
        });
        expect(view(ours)).toEqual(view(theirs));
      }
    } finally {
      await nginx.remove();
    }
  }, 30_000);
});

describe("cvm serve: ranges and HEAD", () => {
  test("bytes=a-b, bytes=a-, bytes=-n: 206 with Content-Range and exactly those bytes", async () => {
    const path = someObject();
    const whole = readFileSync(join(storageA, path));
    const n = whole.length;
    for (const [range, start, end] of [["bytes=0-9", 0, 9], ["bytes=5-", 5, n - 1], ["bytes=-7", n - 7, n - 1], [`bytes=3-${n + 100}`, 3, n - 1], [`bytes=-${n + 50}`, 0, n - 1]] as const) {
      const r = await fetch(url(A, path), { headers: { Range: range } });
      expect({ range, status: r.status, contentRange: r.headers.get("content-range") }).toEqual({ range, status: 206, contentRange: `bytes ${start}-${end}/${n}` });
      expect(Buffer.from(await r.arrayBuffer()).equals(whole.subarray(start, end + 1))).toBe(true);
    }
  });

  test("a range of a big object (streamed from the file) is exact", async () => {
    const whole = readFileSync(join(storageA, bigChunk));
    expect(whole.length).toBeGreaterThan(1 << 20);
    const start = 1_000_003, end = whole.length - 12_345;
    const r = await fetch(url(A, bigChunk), { headers: { Range: `bytes=${start}-${end}` } });
    expect(r.status).toBe(206);
    expect(Buffer.from(await r.arrayBuffer()).equals(whole.subarray(start, end + 1))).toBe(true);
    const full = await fetch(url(A, bigChunk));
    expect(Buffer.from(await full.arrayBuffer()).equals(whole)).toBe(true);
  });

  test("unsatisfiable ranges: 416 with Content-Range bytes */size; several ranges or another unit: the whole file", async () => {
    const path = someObject();
    const n = statSync(join(storageA, path)).size;
    for (const range of [`bytes=${n}-`, `bytes=${n + 10}-${n + 20}`, "bytes=-0"]) {
      const r = await fetch(url(A, path), { headers: { Range: range } });
      expect({ range, status: r.status, contentRange: r.headers.get("content-range") }).toEqual({ range, status: 416, contentRange: `bytes */${n}` });
      await r.arrayBuffer();
    }
    for (const range of ["bytes=0-1,4-5", "items=0-1", "bytes=9-3"]) {
      const r = await fetch(url(A, path), { headers: { Range: range } });
      expect({ range, status: r.status, length: (await r.arrayBuffer()).byteLength }).toEqual({ range, status: 200, length: n });
    }
  });

  test("HEAD: the GET headers (Content-Length the file's size), no body", async () => {
    for (const path of [".cvmfspublished", someObject(), bigChunk]) {
      const head = await fetch(url(A, path), { method: "HEAD" });
      const size = statSync(join(storageA, path)).size;
      expect({ path, status: head.status, length: head.headers.get("content-length"), body: (await head.arrayBuffer()).byteLength })
        .toEqual({ path, status: 200, length: String(size), body: 0 });
      const get = await fetch(url(A, path));
      await get.arrayBuffer();
      for (const h of ["content-type", "cache-control", "etag", "last-modified"]) expect(head.headers.get(h)).toBe(get.headers.get(h));
    }
  });
});

describe("cvm serve: what is not served", () => {
  test("missing objects, directories, the repository root, other files of the storage, unknown repositories: 404; POST: 405", async () => {
    const missing = ["data/00/" + "0".repeat(38), "data/ab", "data", "", "README", "data/txn/x", ".cvm_publish.lock", "api/v1.0/geo"];
    for (const p of missing) {
      const r = await fetch(url(A, p));
      expect({ p, status: r.status }).toEqual({ p, status: 404 });
      await r.arrayBuffer();
    }
    for (const p of ["/", "/cvmfs/", "/cvmfs/unknown.example.org/.cvmfspublished", "/etc/passwd"]) {
      const r = await fetch(server.base + p);
      expect({ p, status: r.status }).toEqual({ p, status: 404 });
      await r.arrayBuffer();
    }
    const post = await fetch(url(A, ".cvmfspublished"), { method: "POST", body: "x" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });

  test("path escapes, encoded or not, and links out of the storage: never the file outside (400 or 404)", async () => {
    const p = `/cvmfs/${A}`;
    const attempts = [
      `${p}/../secret`, `${p}/../../srv/secret`, `${p}/data/../../secret`, `${p}/%2e%2e/secret`, `${p}/%2E%2E/%2e%2e/srv/secret`,
      `${p}/..%2fsecret`, `${p}%2F..%2Fsecret`, `${p}/data%2f..%2f..%2fsecret`, `${p}/..%5csecret`, `${p}/.cvmfs%00`, `${p}/%00/../secret`,
      `${p}/.cvmfsleak`, `${p}/data/ee/${"e".repeat(38)}`, `${p}/data/${outDir}/${"f".repeat(38)}`, `${p}//${join(work, "srv", "secret")}`,
      `//${join(work, "srv", "secret")}`, `http://evil.example${p}/../secret`, `${p}/..\\secret`, `${p}/data/%252e%252e/secret`,
    ];
    for (const target of attempts) {
      const r = await rawRequest(server.base, target);
      expect({ target, refused: r.status === 400 || r.status === 404, leaked: r.body.includes("top secret") }).toEqual({ target, refused: true, leaked: false });
    }
    // The encoded ones are refused outright, whatever they would have named.
    for (const target of [`${p}/..%2fsecret`, `${p}%2F..%2Fsecret`, `${p}/..%5csecret`, `${p}/.cvmfs%00`]) expect((await rawRequest(server.base, target)).status).toBe(400);
  });

  test("a link that stays inside the storage (a .cvmfsalt- shortcut) is served", async () => {
    const published = readFileSync(join(storageA, ".cvmfspublished"), "latin1");
    const root = /^C([0-9a-f]{40})$/m.exec(published)![1];
    const r = await fetch(url(A, `.cvmfsalt-${root}C`));
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer()).equals(readFileSync(join(storageA, `data/${root.slice(0, 2)}/${root.slice(2)}C`)))).toBe(true);
  });

  test("both ways of opening files (openat2 beneath the storage; the /proc check for older kernels) refuse every link out", () => {
    const byHand = (rel: string) => { const f = openInside(realpathSync(storageA), rel); if (f) closeSync(f.fd); return !!f; };
    const opener = fileOpener(realpathSync(storageA));
    const beneath = (rel: string) => { const f = opener.open(rel); if (f) closeSync(f.fd); return !!f; };
    try {
      for (const rel of [".cvmfsleak", `data/ee/${"e".repeat(38)}`, `data/${outDir}/${"f".repeat(38)}`, "../secret", "data/../../secret", join(work, "srv", "secret"), "data", "data/txn"])
        expect({ rel, byHand: byHand(rel), beneath: beneath(rel) }).toEqual({ rel, byHand: false, beneath: false });
      const root = /^C([0-9a-f]{40})$/m.exec(readFileSync(join(storageA, ".cvmfspublished"), "latin1"))![1];
      for (const rel of [".cvmfspublished", `.cvmfsalt-${root}C`, someObject()])
        expect({ rel, byHand: byHand(rel), beneath: beneath(rel) }).toEqual({ rel, byHand: true, beneath: true });
    } finally {
      opener.close();
    }
  });

  test("pure checks: the path rules and range rules the server applies", () => {
    expect(parseRequestPath("/cvmfs/a.b/data/../x")).toEqual({ kind: "refused", status: 400, why: "a '.' or '..' segment" });
    expect(parseRequestPath("/cvmfs/a.b/data/ab/" + "c".repeat(38) + "P")).toMatchObject({ kind: "object", fqrn: "a.b" });
    expect(parseRequestPath("/cvmfs/a.b/data/ab/" + "c".repeat(37))).toMatchObject({ kind: "refused", status: 404 });
    expect(parseRequestPath("/cvmfs/a.b/%zz")).toMatchObject({ kind: "refused", status: 400 });
    expect(parseRange("bytes=2-4", 10)).toEqual({ start: 2, end: 4 });
    expect(parseRange("bytes=-3", 10)).toEqual({ start: 7, end: 9 });
    expect(parseRange("bytes=10-", 10)).toBe("unsatisfiable");
    expect(parseRange("bytes=0-", 0)).toBe("unsatisfiable");
    expect(parseRange(null, 10)).toBe("whole");
  });
});

describe("cvm serve: repositories, geo API, clients", () => {
  test("two repositories at once, each under its own name, and both in /cvmfs/info/v1/repositories.json", async () => {
    for (const [fqrn, storage] of [[A, storageA], [B, storageB]]) {
      const r = await fetch(url(fqrn, ".cvmfspublished"));
      expect(Buffer.from(await r.arrayBuffer()).equals(readFileSync(join(storage, ".cvmfspublished")))).toBe(true);
    }
    const list = await (await fetch(`${server.base}/cvmfs/info/v1/repositories.json`)).json();
    expect(list).toEqual({ schema: 1, repositories: [{ name: A, url: `/cvmfs/${A}` }, { name: B, url: `/cvmfs/${B}` }], replicas: [] });
  });

  test("the geo API answers a permutation parseGeoReply accepts: names of this machine first, the rest as given", async () => {
    const ask = async (servers: string[], proxy = "cvm-1234") => {
      const r = await fetch(url(A, `api/v1.0/geo/${proxy}/${servers.map(encodeURIComponent).join(",")}`));
      return { status: r.status, text: await r.text(), cache: r.headers.get("cache-control") };
    };
    const plain = await ask(["far.example.org", "localhost", "other.example.net", "127.0.0.1", "[::1]"]);
    expect(plain.status).toBe(200);
    expect(plain.cache).toBe("max-age=3600");
    expect(parseGeoReply(plain.text, 5)).toEqual([2, 4, 5, 1, 3]);
    // with fallback proxies after +PXYSEP+: servers, then proxies, then the separator's own index (upstream's layout)
    const sep = await ask(["s1.example.org", "127.0.0.1", "+PXYSEP+", "proxy.example.org", "localhost"]);
    expect(parseGeoReply(sep.text, 5)).toEqual([2, 1, 5, 4, 3]);
    // a proxy named in the URL counts as near: the client goes through it
    expect(parseGeoReply((await ask(["a.example.org", "squid.example.org"], "squid.example.org")).text, 2)).toEqual([2, 1]);
    // no near name: the given order
    expect(parseGeoReply((await ask(["a.example.org", "b.example.org", "c.example.org"])).text, 3)).toEqual([1, 2, 3]);
    const bad = await ask(["ok.example.org", "no spaces"]);
    expect(bad.status).toBe(400);
    expect((await fetch(`${server.base}/cvmfs/unknown.example.org/api/v1.0/geo/x/a,b`)).status).toBe(404);
  });

  test("cvm fs reads by name through cvm serve (CVMFS_SERVER_URL), geo API on: every file equals the source", async () => {
    const dir = join(work, "client");
    const opts = [
      `CVMFS_SERVER_URL=${server.base}/cvmfs/@fqrn@;http://localhost:${new URL(server.base).port}/cvmfs/@fqrn@`, "CVMFS_HTTP_PROXY=DIRECT",
      `CVMFS_KEYS_DIR=${keys}`, `CVMFS_CACHE_BASE=${join(dir, "cache")}`, "CVMFS_USE_GEOAPI=yes",
    ].flatMap((o) => ["-o", o]);
    const clientEnv = { ...env, CVM_CONFIG_ROOT: join(dir, "etc"), CVM_STATE_DIR: join(dir, "state") };
    const got = await cvm(["fs", "get", A, "/", join(dir, "tree"), ...opts], { env: clientEnv });
    expect(got.stderr).not.toContain("cvm:");
    expect(got.code).toBe(0);
    for (const name of readdirSync(src)) {
      if (statSync(join(src, name)).isDirectory()) continue;
      expect({ name, same: readFileSync(join(dir, "tree", name)).equals(readFileSync(join(src, name))) }).toEqual({ name, same: true });
    }
    expect(readFileSync(join(dir, "tree", "nested", "f1.txt"), "utf8")).toBe("file 1\nfile 1\n");
    const info = await cvm(["fs", "info", A, ...opts], { env: clientEnv });
    expect(info.code).toBe(0);
  }, 60_000);
});

describe("cvm serve: start, log, stop", () => {
  test("-v logs one line per request; SIGTERM stops it with exit 0", async () => {
    const s = await startServe(["-v", storageB]);
    const r = await fetch(`${s.urls.get(B)}/.cvmfspublished`);
    await r.arrayBuffer();
    await fetch(`${s.urls.get(B)}/nothing`).then((x) => x.arrayBuffer());
    s.proc.kill("SIGTERM");
    expect(await s.proc.exited).toBe(0);
    expect(s.stderr()).toMatch(new RegExp(`GET /cvmfs/${B.replace(/\./g, "\\.")}/\\.cvmfspublished 200 \\d+`));
    expect(s.stderr()).toMatch(/GET \/cvmfs\/\S+\/nothing 404/);
    expect(s.stderr()).toContain("stopped (SIGTERM)");
  }, 20_000);

  test("refusals are one line: two storages of one name, a directory that is no storage, a taken port, a bad --listen", async () => {
    const one = (r: { stderr: string }) => r.stderr.trim().split("\n")[0];
    const dup = await cvm(["serve", storageA, storageA, "--listen", "127.0.0.1:0"], { env });
    expect(dup.code).toBe(2);
    expect(one(dup)).toBe(`cvm: ${storageA} and ${storageA} both hold repository ${A}; one server serves each name once`);
    const empty = join(work, "empty.example.org");
    mkdirSync(empty);
    const notStorage = await cvm(["serve", empty, "--listen", "127.0.0.1:0"], { env });
    expect(notStorage.code).toBe(1);
    expect(notStorage.stderr).toBe(`cvm: ${empty}: not a repository storage (no .cvmfspublished and no data/ directory)\n`);
    const port = new URL(server.base).port;
    const taken = await cvm(["serve", storageB, "--listen", `127.0.0.1:${port}`], { env });
    expect(taken.code).toBe(1);
    expect(taken.stderr).toBe(`cvm: 127.0.0.1:${port}: address already in use; choose another with --listen HOST:PORT (port 0 picks a free one)\n`);
    const badListen = await cvm(["serve", storageB, "--listen", "localhost:99999"], { env });
    expect(badListen.code).toBe(2);
    expect(one(badListen)).toStartWith("cvm: --listen 'localhost:99999': expected HOST:PORT");
  }, 20_000);
});

/** Resident memory of a process, from /proc. */
const rssBytes = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;

/** Polls `check` until it is true or `ms` pass; false on timeout. */
async function until(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (await check()) return true;
    await Bun.sleep(25);
  }
  return check();
}

/** A connection from `localAddress` that has sent `request` (if any); `answer` collects what comes back, `closed` whether it ended. */
function openClient(base: string, request: string | undefined, localAddress = "127.0.0.1") {
  const { hostname, port } = new URL(base);
  const socket = connect({ host: hostname, port: Number(port), localAddress });
  const c = { socket, answer: "", closed: false, connected: new Promise<void>((resolve, reject) => { socket.once("connect", () => resolve()); socket.once("error", reject); }) };
  socket.on("data", (d) => { c.answer += d.toString("latin1"); });
  socket.on("close", () => { c.closed = true; });
  socket.on("error", () => {});
  if (request !== undefined) socket.once("connect", () => socket.write(request));
  return c;
}

describe("cvm serve: slow readers, connection caps, idle connections", () => {
  test("2,000 clients that ask for a big object and never read: RSS stays under 256 MB and others are still answered", async () => {
    const s = await startServe(["-v", "--max-per-client=2100", "--max-connections=2100", storageA]);
    const readers: ReturnType<typeof openClient>[] = [];
    try {
      const before = rssBytes(s.proc.pid);
      const request = `GET /cvmfs/${A}/${bigChunk} HTTP/1.1\r\nHost: x\r\n\r\n`;
      for (let i = 0; i < 2000; i++) {
        const c = openClient(s.base, request);
        c.socket.pause(); // never reads: the server's writes stop once the socket buffers are full
        readers.push(c);
        if (i % 200 === 199) await Promise.all(readers.slice(-200).map((r) => r.connected));
      }
      await Promise.all(readers.map((r) => r.connected));
      // every request has been answered (-v logs each), as far as the socket buffers take it
      const answered = () => s.stderr().split(bigChunk + " 200 ").length - 1;
      expect(await until(() => answered() === 2000, 60_000)).toBe(true);
      let peak = 0;
      const others: boolean[] = [];
      const settled = await until(async () => {
        peak = Math.max(peak, rssBytes(s.proc.pid));
        // meanwhile other clients are answered, and correctly
        const r = await fetch(url(A, ".cvmfspublished"));
        others.push(r.status === 200 && Buffer.from(await r.arrayBuffer()).equals(readFileSync(join(storageA, ".cvmfspublished"))));
        return others.length >= 20;
      }, 60_000);
      expect(settled).toBe(true);
      expect(others.every(Boolean)).toBe(true);
      const path = someObject();
      const obj = await fetch(url(A, path));
      expect(Buffer.from(await obj.arrayBuffer()).equals(readFileSync(join(storageA, path)))).toBe(true);
      peak = Math.max(peak, rssBytes(s.proc.pid));
      expect({ before, peakUnder256MB: peak < 256 * 1024 * 1024 }).toEqual({ before, peakUnder256MB: true });
      expect(readers.filter((r) => r.closed).length).toBe(0); // held, not dropped
      // and when a slow reader does read, it gets the whole object
      const last = readers.pop()!;
      let got = Buffer.alloc(0);
      last.socket.removeAllListeners("data");
      last.socket.on("data", (d: Buffer) => { got = Buffer.concat([got, d]); });
      last.socket.resume();
      const size = statSync(join(storageA, bigChunk)).size;
      expect(await until(() => got.indexOf("\r\n\r\n") > 0 && got.length - got.indexOf("\r\n\r\n") - 4 >= size, 30_000)).toBe(true);
      expect(got.subarray(got.indexOf("\r\n\r\n") + 4).equals(readFileSync(join(storageA, bigChunk)))).toBe(true);
      last.socket.destroy();
    } finally {
      for (const r of readers) r.socket.destroy();
      s.proc.kill("SIGKILL");
      await s.proc.exited;
    }
  }, 120_000);

  test("caps per client address and in all: the next connection gets 503 and closes, the log says so once, a freed slot is served again", async () => {
    const s = await startServe(["--max-per-client=3", "--max-connections=5", storageA]);
    const held: ReturnType<typeof openClient>[] = [];
    try {
      for (let i = 0; i < 3; i++) held.push(openClient(s.base, undefined, "127.0.0.1"));
      await Promise.all(held.map((c) => c.connected));
      const fourth = openClient(s.base, undefined, "127.0.0.1");
      expect(await until(() => fourth.closed, 10_000)).toBe(true);
      expect(fourth.answer).toStartWith("HTTP/1.1 503 Service Unavailable\r\n");
      expect(await until(() => /connection limit reached: 127\.0\.0\.1 holds 3 connections \(--max-per-client\)/.test(s.stderr()), 5_000)).toBe(true);
      // another address still gets in, up to the total of 5
      for (let i = 0; i < 2; i++) held.push(openClient(s.base, undefined, "127.0.0.2"));
      await Promise.all(held.map((c) => c.connected));
      const sixth = openClient(s.base, undefined, "127.0.0.3");
      expect(await until(() => sixth.closed, 10_000)).toBe(true);
      expect(sixth.answer).toStartWith("HTTP/1.1 503 ");
      expect(await until(() => /connection limit reached: 5 connections open \(--max-connections\)/.test(s.stderr()), 5_000)).toBe(true);
      // a second refusal is not logged again
      const seventh = openClient(s.base, undefined, "127.0.0.1");
      expect(await until(() => seventh.closed, 10_000)).toBe(true);
      expect(s.stderr().match(/--max-per-client/g)?.length).toBe(1);
      // the held ones are served, and once one goes a new client is
      held[0].socket.write(`GET /cvmfs/${A}/.cvmfspublished HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(await until(() => held[0].answer.startsWith("HTTP/1.1 200 OK\r\n"), 10_000)).toBe(true);
      held[1].socket.destroy();
      expect(await until(async () => (await fetch(url(A, ".cvmfspublished")).then((r) => r.status).catch(() => 0)) === 200, 10_000)).toBe(true);
    } finally {
      for (const c of held) c.socket.destroy();
      s.proc.kill("SIGKILL");
      await s.proc.exited;
    }
  }, 60_000);

  test("--idle-timeout: a connection that sends nothing, and a reader that takes nothing, are closed; an active one is not", async () => {
    const s = await startServe(["--idle-timeout=1", storageA]);
    try {
      const silent = openClient(s.base, undefined);
      const stuck = openClient(s.base, `GET /cvmfs/${A}/${bigChunk} HTTP/1.1\r\nHost: x\r\n\r\n`);
      stuck.socket.pause();
      await Promise.all([silent.connected, stuck.connected]);
      const t0 = performance.now();
      expect(await until(() => silent.closed, 15_000)).toBe(true);
      expect(await until(() => stuck.closed, 15_000)).toBe(true);
      expect(performance.now() - t0).toBeGreaterThan(900);
      expect(silent.answer).toBe("");
      // one that asks now and then stays, past several timeouts
      const active = openClient(s.base, undefined);
      await active.connected;
      for (let i = 0; i < 12; i++) {
        const had = active.answer.length;
        active.socket.write(`GET /cvmfs/${A}/.cvmfspublished HTTP/1.1\r\nHost: x\r\n\r\n`);
        expect(await until(() => active.answer.length > had && active.answer.endsWith(readFileSync(join(storageA, ".cvmfspublished"), "latin1")), 5_000)).toBe(true);
        await Bun.sleep(400);
      }
      expect(active.closed).toBe(false);
      active.socket.destroy();
    } finally {
      s.proc.kill("SIGKILL");
      await s.proc.exited;
    }
  }, 60_000);

  test("bad flags are one line: --max-connections, --max-per-client, --idle-timeout, --workers", async () => {
    for (const [flag, value, expected] of [["--max-connections", "0", "from 1"], ["--max-per-client", "x", "from 1"], ["--idle-timeout", "-3", "from 1 to 86400"], ["--workers", "1000", "from 1 to 256"]]) {
      const r = await cvm(["serve", storageB, "--listen", "127.0.0.1:0", flag, value], { env });
      expect({ flag, code: r.code, line: r.stderr.split("\n")[0] }).toEqual({ flag, code: 2, line: `cvm: ${flag} '${value}': expected a whole number ${expected}` });
    }
  });

  test("--workers 2: both loops answer on one port (SO_REUSEPORT); SIGTERM stops them all", async () => {
    const s = await startServe(["-v", "--workers=2", storageB]);
    const tids = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const r = await fetch(`${s.urls.get(B)}/.cvmfspublished`, { headers: { Connection: "close" } });
      expect(Buffer.from(await r.arrayBuffer()).equals(readFileSync(join(storageB, ".cvmfspublished")))).toBe(true);
    }
    for (const t of readdirSync(`/proc/${s.proc.pid}/task`)) tids.add(t);
    expect(tids.size).toBeGreaterThan(1);
    s.proc.kill("SIGTERM");
    expect(await s.proc.exited).toBe(0);
    expect(s.stderr()).toContain("with 2 workers");
    expect(s.stderr().match(/GET \/cvmfs\/\S+\/\.cvmfspublished 200/g)?.length).toBe(40);
  }, 30_000);
});

describe("cvm serve: small objects from memory", () => {
  test("an object once read is answered from memory (its bytes cannot change); root files are read each time; --object-cache 0 keeps none", async () => {
    const copy = join(work, "cache-copy", B);
    cpSync(storageB, copy, { recursive: true });
    const object = objects(copy).find((p) => !p.endsWith("P") && statSync(join(copy, p)).size < 64 << 10)!;
    const bytes = readFileSync(join(copy, object));
    const s = await startServe([copy]);
    const plain = await startServe(["--object-cache=0", copy]);
    try {
      const get = async (base: string, path: string) => { const r = await fetch(`${base}/cvmfs/${B}/${path}`); return { status: r.status, body: Buffer.from(await r.arrayBuffer()) }; };
      expect(await get(s.base, object)).toEqual({ status: 200, body: bytes });
      expect(await get(plain.base, object)).toEqual({ status: 200, body: bytes });
      unlinkSync(join(copy, object));
      expect(await get(s.base, object)).toEqual({ status: 200, body: bytes });   // from memory
      expect((await get(plain.base, object)).status).toBe(404);                  // from the storage
      // a range and a revalidation of the kept object answer as from the file
      const r = await fetch(`${s.base}/cvmfs/${B}/${object}`, { headers: { Range: "bytes=2-5" } });
      expect([r.status, r.headers.get("content-range"), Buffer.from(await r.arrayBuffer())]).toEqual([206, `bytes 2-5/${bytes.length}`, bytes.subarray(2, 6)]);
      const etag = `"${object.slice(5).replace("/", "")}"`;
      expect((await fetch(`${s.base}/cvmfs/${B}/${object}`, { headers: { "If-None-Match": etag } })).status).toBe(304);
      appendFileSync(join(copy, ".cvmfspublished"), "x");
      expect((await get(s.base, ".cvmfspublished")).body).toEqual(readFileSync(join(copy, ".cvmfspublished")));
    } finally {
      s.proc.kill("SIGKILL");
      plain.proc.kill("SIGKILL");
      await Promise.all([s.proc.exited, plain.proc.exited]);
    }
  }, 30_000);
});
