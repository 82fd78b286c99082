// cvm publish snapshot, through the compiled binary, replicating from a
// stratum served by test/hostile/http-server.ts (which records every request
// and can be told to lie) or from a storage directory. One source repository
// gains revisions as the tests go; each test says which replica it uses.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CVM, cvm } from "./helpers/run";
import { startHostileServer, type HostileServer } from "./hostile/http-server";
import { startStratumServer } from "../src/cvmfs/serve/server";
import { Repository } from "../src/cvmfs/client/repository";
import { DirectorySource } from "../src/cvmfs/client/source";
import { verifyRepository } from "../src/cvmfs/client/verify";
import { loadMasterKeys } from "../src/cvmfs/format/keys";

const FQRN = "snap.example.org";
let work: string, keys: string, src: string, s0: string, stale: string, env: Record<string, string>;
let source: HostileServer;
let initObjects: Set<string>;   // what `publish init` stored (revision 1)
const replica = (name: string) => join(work, "replicas", name, FQRN);

const objects = (storage: string) => new Set(readdirSync(join(storage, "data")).filter((d) => /^[0-9a-f]{2}$/.test(d))
  .flatMap((d) => readdirSync(join(storage, "data", d)).map((f) => `data/${d}/${f}`)));
const minus = <T>(a: Set<T>, b: Set<T>) => new Set([...a].filter((x) => !b.has(x)));
const manifestOf = (storage: string) => readFileSync(join(storage, ".cvmfspublished"));
const revisionOf = (storage: string) => Number(/^S(\d+)$/m.exec(manifestOf(storage).toString("latin1"))![1]);

const snapshot = (storage: string, ...extra: string[]) => cvm(["publish", "snapshot", source.base, FQRN, "--storage", storage, "--keys", keys, ...extra], { env });
// Each read starts without a remembered revision: replicas lag the source on purpose here (rollback protection is cvm fs's business).
let reads = 0;
const readerEnv = () => ({ ...env, CVM_STATE_DIR: join(work, "reader-state", String(++reads)) });
const verify = (storage: string, ...extra: string[]) => cvm(["fs", "verify", storage, "--fqrn", FQRN, "--keys", keys, ...extra], { env: readerEnv() });
const dataRequests = () => source.requests.filter((p) => p.includes("/data/")).map((p) => p.slice(p.indexOf("/data/") + 1));

async function publish(change: () => void): Promise<Set<string>> {
  const before = objects(s0);
  change();
  const r = await cvm(["publish", "sync", FQRN, src], { env });
  if (r.code !== 0) throw new Error(r.stderr);
  return minus(objects(s0), before);
}

async function objectOf(path: string): Promise<string> {
  const r = await cvm(["fs", "stat", s0, path, "--fqrn", FQRN, "--keys", keys, "--json"], { env: readerEnv() });
  const hash = JSON.parse(r.stdout).hash as string;
  return `data/${hash.slice(0, 2)}/${hash.slice(2)}`;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cvm-snapshot-"));
  keys = join(work, "keys"); src = join(work, "src"); s0 = join(work, "s0", FQRN); stale = join(work, "stale", FQRN);
  env = { CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state") };
  const init = await cvm(["publish", "init", FQRN, "--storage", s0, "--keys", keys], { env });
  if (init.code !== 0) throw new Error(init.stderr);
  initObjects = objects(s0);
  mkdirSync(join(src, "nested", "deeper"), { recursive: true });
  writeFileSync(join(src, "nested", ".cvmfscatalog"), "");
  writeFileSync(join(src, "nested", "deeper", ".cvmfscatalog"), "");
  for (let i = 0; i < 200; i++) writeFileSync(join(src, ["", "nested", "nested/deeper"][i % 3], `f${i}.txt`), `file ${i}\n`.repeat(1 + (i % 30)));
  writeFileSync(join(src, "nested", "big.bin"), randomBytes(9 << 20)); // chunked
  await publish(() => {});
  cpSync(s0, stale, { recursive: true }); // a stratum that stops at revision 2
  source = startHostileServer(s0, FQRN);
}, 60_000);

afterAll(() => {
  source?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
}, 60_000);

describe("cvm publish snapshot", () => {
  beforeEach(() => source.clear()); // no lie and no request of an earlier test carries over
  test("a full replica: verifies, holds exactly what the revision needs, the signed files byte for byte, and reads by name through cvm serve", async () => {
    const r1 = replica("one");
    const r = await snapshot(r1);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith(`Replicated ${FQRN} revision 2 from ${source.base} into ${r1}\n`);
    const v = await verify(r1);
    expect(v.stdout).toContain("in revision 2: OK");
    expect(v.code).toBe(0);
    for (const f of [".cvmfspublished", ".cvmfswhitelist"]) expect(readFileSync(join(r1, f)).equals(readFileSync(join(s0, f)))).toBe(true);
    // everything in the source but what only revision 1 needed (its root catalog and history; the certificate is shared)
    const certificate = /^X([0-9a-f]{40})$/m.exec(manifestOf(s0).toString("latin1"))![1];
    const onlyRevision1 = minus(initObjects, new Set([`data/${certificate.slice(0, 2)}/${certificate.slice(2)}X`]));
    expect([...objects(r1)].sort()).toEqual([...minus(objects(s0), onlyRevision1)].sort());
    expect(readFileSync(join(r1, ".cvmfs_last_snapshot"), "utf8")).toMatch(/^(Sun|Mon|Tue|Wed|Thu|Fri|Sat) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d UTC \d{4}\n$/);
    expect(JSON.parse(readFileSync(join(r1, ".cvmfs_status.json"), "utf8")).last_snapshot).toBe(readFileSync(join(r1, ".cvmfs_last_snapshot"), "utf8").trim());
    expect(readdirSync(join(r1, "data", "txn"))).toEqual([]);
    for (const f of [".cvmfs_is_snapshotting", ".cvm_publish.lock", ".cvm_publish.work"]) expect({ f, exists: existsSync(join(r1, f)) }).toEqual({ f, exists: false });

    const server = startStratumServer({ storages: [r1], port: 0 });
    try {
      const dir = join(work, "client-one");
      const opts = [`CVMFS_SERVER_URL=${server.url("@fqrn@")}`, "CVMFS_HTTP_PROXY=DIRECT", `CVMFS_KEYS_DIR=${keys}`, `CVMFS_CACHE_BASE=${join(dir, "cache")}`].flatMap((o) => ["-o", o]);
      const got = await cvm(["fs", "get", FQRN, "/", join(dir, "tree"), ...opts], { env: { ...env, CVM_CONFIG_ROOT: join(dir, "etc") } });
      expect(got.code).toBe(0);
      expect(readFileSync(join(dir, "tree", "nested", "big.bin")).equals(readFileSync(join(src, "nested", "big.bin")))).toBe(true);
      expect(readFileSync(join(dir, "tree", "nested", "deeper", "f2.txt"), "utf8")).toBe("file 2\n".repeat(3));
      const list = (await (await fetch(`${server.base}/cvmfs/info/v1/repositories.json`)).json()) as { replicas: unknown };
      expect(list.replicas).toEqual([{ name: FQRN, url: `/cvmfs/${FQRN}` }]);
    } finally {
      await server.stop();
    }
  }, 60_000);

  test("after a new revision, a snapshot fetches exactly the new objects, each once; with nothing new, no object at all", async () => {
    const r1 = replica("one");
    const fresh = await publish(() => {
      for (let i = 0; i < 20; i++) writeFileSync(join(src, "nested", "deeper", `new${i}.txt`), `new in revision 3: ${i}\n`);
      writeFileSync(join(src, "f0.txt"), "changed in revision 3\n");
    });
    source.clear();
    const r = await snapshot(r1);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("revision 3 (was revision 2)");
    const requested = dataRequests();
    expect(requested.length).toBe(new Set(requested).size);
    expect(requested.sort()).toEqual([...fresh].sort());
    expect((await verify(r1)).stdout).toContain("in revision 3: OK");

    source.clear();
    const again = await snapshot(r1);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("already at revision 3");
    expect(source.requests.map((p) => p.slice(p.lastIndexOf("/") + 1)).sort()).toEqual([".cvmfspublished", ".cvmfswhitelist"]);
  }, 60_000);

  test("killed (-9) mid-snapshot: the replica keeps its previous revision whole; a rerun completes it without fetching again what was stored", async () => {
    const r1 = replica("one");
    const fresh = await publish(() => {
      mkdirSync(join(src, "many"), { recursive: true });
      for (let i = 0; i < 1500; i++) writeFileSync(join(src, "many", `m${i}.txt`), `many ${i}\n`.repeat(1 + (i % 7)));
      writeFileSync(join(src, "nested", "deeper", "big2.bin"), randomBytes(20 << 20));
    });
    const manifestBefore = manifestOf(r1);
    const storedAtStart = objects(r1);
    // The kill comes from a point the snapshot reaches: 100 objects through data/txn.
    const seen = new Set<string>();
    let pid = 0, killed = false as boolean;
    const watcher = watch(join(r1, "data", "txn"), (_, name) => {
      if (!name || killed || !pid) return;
      seen.add(name);
      if (seen.size >= 100) { process.kill(pid, "SIGKILL"); killed = true; }
    });
    try {
      const p = Bun.spawn([CVM, "publish", "snapshot", source.base, FQRN, "--storage", r1, "--keys", keys], { env: { ...process.env, ...env }, stdout: "ignore", stderr: "ignore" });
      pid = p.pid;
      expect({ code: await p.exited, killed }).toEqual({ code: 128 + 9, killed: true });
    } finally {
      watcher.close();
    }
    const storedBeforeRerun = minus(objects(r1), storedAtStart);
    expect(storedBeforeRerun.size).toBeGreaterThan(0);
    expect(manifestOf(r1).equals(manifestBefore)).toBe(true);
    const v = await verify(r1);
    expect(v.stdout).toContain("in revision 3: OK");
    expect(v.code).toBe(0);

    source.clear();
    const r = await snapshot(r1);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const refetched = dataRequests().filter((p) => storedBeforeRerun.has(p));
    expect(refetched).toEqual([]);
    expect(dataRequests().length).toBeLessThan(fresh.size);
    expect((await verify(r1)).stdout).toContain("in revision 4: OK");
    expect(existsSync(join(r1, ".cvmfs_is_snapshotting"))).toBe(false);
    expect(readdirSync(join(r1, "data", "txn"))).toEqual([]);
  }, 120_000);

  test("a corrupt object or a forged manifest on the source: refused in one line naming it; the replica keeps its revision", async () => {
    const r1 = replica("one");
    await publish(() => writeFileSync(join(src, "corrupt-me.txt"), "revision 5 content\n"));
    const object = await objectOf("/corrupt-me.txt");
    const bytes = readFileSync(join(s0, object));
    bytes[bytes.length - 1] ^= 0x01;
    source.rule((p) => p === object, { kind: "body", bytes });
    const before = manifestOf(r1);
    const r = await snapshot(r1);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^cvm: ${source.base.replace(/[.]/g, "\\.")}/${object}: content hash mismatch \\(expected [0-9a-f]{40}, got [0-9a-f]{40}\\) \\(/corrupt-me\\.txt\\); refused; the replica keeps revision 4\\n$`));
    expect(manifestOf(r1).equals(before)).toBe(true);
    expect((await verify(r1)).stdout).toContain("in revision 4: OK");

    source.clear();
    const forged = Buffer.from(manifestOf(s0));
    forged[forged.indexOf("\nS") + 2] ^= 0x01; // another revision number, same signature
    source.rule((p) => p === ".cvmfspublished", { kind: "body", bytes: forged });
    const f = await snapshot(r1);
    expect(f.code).toBe(1);
    expect(f.stderr.split("\n").length).toBe(2);
    expect(f.stderr).toStartWith(`cvm: ${source.base}/.cvmfspublished: `);
    expect(f.stderr).toEndWith("; the replica keeps revision 4\n");
    expect(manifestOf(r1).equals(before)).toBe(true);

    source.clear();
    const ok = await snapshot(r1);
    expect(ok.code).toBe(0);
    expect((await verify(r1)).stdout).toContain("in revision 5: OK");
  }, 60_000);

  test("--all-tags also replicates every revision the history names (from a storage directory here)", async () => {
    const r2 = replica("tags");
    const plain = await cvm(["publish", "snapshot", s0, FQRN, "--storage", r2, "--keys", keys], { env });
    expect(plain.code).toBe(0);
    expect((await verify(r2, "--all")).code).toBe(1); // the older revisions' objects are not there
    const all = await cvm(["publish", "snapshot", s0, FQRN, "--storage", r2, "--keys", keys, "--all-tags", "--json"], { env });
    expect(all.code).toBe(0);
    expect(JSON.parse(all.stdout).taggedRevisions.sort()).toEqual([1, 2, 3, 4]);
    const v = await verify(r2, "--all");
    expect(v.stdout).toContain("in revisions 5, ");
    expect(v.code).toBe(0);
  }, 60_000);

  test("--gc removes what neither the current nor the previous revision needs, and keeps everything they do", async () => {
    const r3 = replica("gc");
    await publish(() => writeFileSync(join(src, "u1.txt"), "only in revision 6\n"));
    const u1 = await objectOf("/u1.txt");
    const first = await snapshot(r3);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    await publish(() => { rmSync(join(src, "u1.txt")); writeFileSync(join(src, "u2.txt"), "only in revision 7\n"); });
    const u2 = await objectOf("/u2.txt");
    expect((await snapshot(r3)).code).toBe(0);
    await publish(() => rmSync(join(src, "u2.txt")));
    expect((await snapshot(r3)).code).toBe(0);
    expect(existsSync(join(r3, u1)) && existsSync(join(r3, u2))).toBe(true); // without --gc nothing goes
    const orphan = `data/ab/${"a".repeat(38)}`;
    writeFileSync(join(r3, orphan), "left by something");
    const before = objects(r3);

    const r = await snapshot(r3, "--gc");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/gc: removed \d+ unreferenced files/);
    const removed = minus(before, objects(r3));
    expect(removed.has(u1)).toBe(true);
    expect(removed.has(orphan)).toBe(true);
    expect(existsSync(join(r3, u2))).toBe(true); // revision 7, the one before, is kept whole
    expect((await verify(r3)).stdout).toContain("in revision 8: OK");
    expect(JSON.parse(readFileSync(join(r3, ".cvmfs_status.json"), "utf8")).last_gc).toMatch(/ UTC \d{4}$/);
    // everything revision 7 needs is still there: its root catalog (from the history) verifies in the replica
    const repo = await Repository.open({ source: new DirectorySource(r3), fqrn: FQRN, masterKeys: loadMasterKeys({ keysDir: keys }).map((k) => k.key), state: null });
    try {
      const previous = (await repo.tags()).find((t) => t.revision === 7)!;
      const view = await repo.atRoot(previous.hash);
      try {
        const report = await verifyRepository(view);
        expect(report.failures).toEqual([]);
        expect(report.objects).toBeGreaterThan(200);
      } finally {
        view.close();
      }
    } finally {
      repo.close();
    }
  }, 90_000);

  test("refused in one line: a stratum 0 as the replica, a busy storage, a source older than the replica, an unknown key, an unreachable source, a full directory", async () => {
    const r1 = replica("one");
    const s0Target = await snapshot(s0);
    expect(s0Target.code).toBe(1);
    expect(s0Target.stderr).toBe(`cvm: ${s0}: holds a repository published here (a stratum 0: it has .cvmfspublished but no .cvmfs_last_snapshot); give a separate directory for the replica\n`);

    const holder = Bun.spawn(["flock", join(r1, ".cvm_publish.lock"), "cat"], { stdin: "pipe", stdout: "ignore", stderr: "ignore" });
    try {
      const lockFile = join(r1, ".cvm_publish.lock");
      for (let i = 0; i < 500 && Bun.spawnSync(["flock", "-n", lockFile, "true"]).exitCode === 0; i++) await Bun.sleep(10);
      const busy = await snapshot(r1);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toMatch(new RegExp(`^cvm: ${r1.replace(/[.]/g, "\\.")}: another publish or snapshot is running \\(locked by pid \\d+\\); try again when it has finished\\n$`));
    } finally {
      holder.stdin.end();
      await holder.exited;
    }

    const before = manifestOf(r1);
    const older = await cvm(["publish", "snapshot", stale, FQRN, "--storage", r1, "--keys", keys], { env });
    expect(older.code).toBe(1);
    expect(older.stderr).toMatch(/^cvm: .*: serves revision 2 \(root [0-9a-f]{40}\), but the replica already has revision \d+: a replica never goes back \(is the source a stale stratum 1\?\); the replica keeps revision \d+\n$/);
    expect(manifestOf(r1).equals(before)).toBe(true);

    const noKey = await cvm(["publish", "snapshot", source.base, FQRN, "--storage", replica("nokey")], { env: { ...env, CVMFS_KEYS_DIR: undefined } });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toStartWith(`cvm: ${source.base}/.cvmfswhitelist: bad signature: none of the `);
    expect(noKey.stderr.split("\n").length).toBe(2);

    const unreachable = await cvm(["publish", "snapshot", "http://127.0.0.1:1/cvmfs/" + FQRN, FQRN, "--storage", replica("never"), "--keys", keys], { env });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toBe(`cvm: http://127.0.0.1:1/cvmfs/${FQRN}/.cvmfspublished: connection refused\n`);
    expect(existsSync(replica("never"))).toBe(false); // nothing is written before the source is verified

    const full = join(work, "not-empty");
    mkdirSync(full);
    writeFileSync(join(full, "thesis.tex"), "\\begin{document}");
    const notEmpty = await snapshot(full);
    expect(notEmpty.code).toBe(1);
    expect(notEmpty.stderr).toBe(`cvm: ${full}: not empty and not a repository storage; give a new or empty directory for the replica\n`);
    expect(readdirSync(full)).toEqual(["thesis.tex"]);
  }, 60_000);
});
