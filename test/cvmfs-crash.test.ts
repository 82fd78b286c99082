import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { CVM, cvm } from "./helpers/run";

const FQRN = "crash.example.org";
let work: string, storage: string, keys: string, src: string, env: Record<string, string>;
const read = (...args: string[]) => cvm(["fs", args[0], storage, "--fqrn", FQRN, "--keys", keys, ...args.slice(1)], { env });
const txn = () => join(storage, "data", "txn");
const lockFile = () => join(storage, ".cvm_publish.lock");

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cvm-crash-"));
  storage = join(work, "srv"); keys = join(work, "keys"); src = join(work, "src");
  env = { CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state") };
  mkdirSync(join(src, "nested"), { recursive: true });
  writeFileSync(join(src, "first.txt"), "revision two\n");
  expect((await cvm(["publish", "init", FQRN, "--storage", storage, "--keys", keys], { env })).code).toBe(0);
  expect((await cvm(["publish", "sync", FQRN, src], { env })).code).toBe(0);
  // the next revision is big enough to take a while: a chunked file in a nested catalog, many small files in the root one
  writeFileSync(join(src, "nested", ".cvmfscatalog"), "");
  writeFileSync(join(src, "nested", "big.bin"), randomBytes(120 << 20));
  for (let i = 0; i < 2000; i++) writeFileSync(join(src, `small-${i}.txt`), `small ${i}\n`);
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }), 120_000);

/** The lock file names this publisher (written once it holds the lock). */
function lockNames(pid: number): boolean {
  try {
    return readFileSync(lockFile(), "utf8").startsWith(`${pid}@`);
  } catch {
    return false;
  }
}

/**
 * Where to kill the publisher, each recognised from what it does to the
 * storage (inotify on the storage root and data/txn, plus a 1 ms poll for
 * what an event may not show), in publishing order. `fresh` counts names new
 * in data/txn since the start of this run.
 */
interface KillPoint { name: string; reached(pid: number, dir: "root" | "txn" | "poll", file: string, fresh: number): boolean; }
const KILL_POINTS: KillPoint[] = [
  { name: "the lock just taken", reached: (pid) => lockNames(pid) },
  { name: "the first content object being stored", reached: (_, dir, __, fresh) => dir === "txn" && fresh >= 1 },
  { name: "1000 content objects stored", reached: (_, dir, __, fresh) => dir === "txn" && fresh >= 1000 },
  // catalogs go through data/txn as ".<hash less its first two digits>C.<pid>.<random>.tmp", after all content
  { name: "the first catalog being written", reached: (_, dir, file) => dir === "txn" && /^\.[0-9a-f]{38}C\./.test(file) },
];

/** Runs a publish and SIGKILLs it the moment it reaches `point`; returns its pid. */
async function publishKilledAt(point: KillPoint): Promise<number> {
  const before = new Set(readdirSync(txn()));
  const fresh = new Set<string>();
  let killed = false;
  let pid = 0;
  const seen = (dir: "root" | "txn" | "poll", file: string | null) => {
    if (killed || !pid || file === null) return;
    if (dir === "txn" && !before.has(file)) fresh.add(file);
    if (point.reached(pid, dir, file, fresh.size)) {
      process.kill(pid, "SIGKILL");
      killed = true;
    }
  };
  const watchers = [watch(storage, (_, f) => seen("root", f)), watch(txn(), (_, f) => seen("txn", f))];
  const poll = setInterval(() => seen("poll", ""), 1);
  try {
    const p = Bun.spawn([CVM, "publish", "sync", FQRN, src], { env: { ...process.env, ...env }, stdout: "ignore", stderr: "ignore" });
    pid = p.pid;
    const code = await p.exited;
    expect({ point: point.name, killed, code }).toEqual({ point: point.name, killed: true, code: 128 + 9 });
  } finally {
    clearInterval(poll);
    watchers.forEach((w) => w.close());
  }
  return pid;
}

describe("a publish killed at any point", () => {
  test("leaves the previous revision fully readable, and a rerun completes", async () => {
    for (const point of KILL_POINTS) {
      const pid = await publishKilledAt(point);
      // the kill came mid-publish: the lock this publisher took is still there
      expect({ point: point.name, lock: readFileSync(lockFile(), "utf8").split("@")[0] }).toEqual({ point: point.name, lock: String(pid) });
      const info = JSON.parse((await read("info", "--json")).stdout);
      expect({ point: point.name, revision: info.revision }).toEqual({ point: point.name, revision: 2 });
      const verify = await read("verify", "--json");
      expect({ point: point.name, failures: JSON.parse(verify.stdout).failures }).toEqual({ point: point.name, failures: [] });
      expect((await read("cat", "/first.txt")).stdout).toBe("revision two\n");
    }
    const rerun = await cvm(["publish", "sync", FQRN, src, "--json"], { env });
    expect(rerun.code).toBe(0);
    expect(JSON.parse((await read("info", "--json")).stdout).revision).toBe(3);
    expect(JSON.parse((await read("verify", "--json")).stdout).failures).toEqual([]);
    expect((await read("cat", "/small-1999.txt")).stdout).toBe("small 1999\n");
    expect(JSON.parse((await read("stat", "/nested/big.bin", "--json")).stdout).size).toBe(120 << 20);
    expect(readdirSync(txn())).toEqual([]);
    expect(existsSync(lockFile())).toBe(false);
  }, 120_000);
});
