import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { CVM, cvm, run } from "./helpers/run";
import { Repository } from "../src/cvmfs/client/repository";
import { DirectorySource } from "../src/cvmfs/client/source";
import { loadMasterKeys } from "../src/cvmfs/format/keys";
import { testWith } from "./helpers/tools";

// One publisher per storage at a time, whatever the timing: concurrent publishers
// either publish a revision of their own or are refused; none is lost.
const FQRN = "lock.example.org";
const PUBLISHERS = 8, ROUNDS = 4;
let work: string, storage: string, keys: string, env: Record<string, string>;
const lockFile = () => join(storage, ".cvm_publish.lock");

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cvm-lock-"));
  storage = join(work, "srv"); keys = join(work, "keys");
  env = { CVM_CONFIG_DIR: join(work, "config"), CVM_STATE_DIR: join(work, "state") };
  const r = await cvm(["publish", "init", FQRN, "--storage", storage, "--keys", keys], { env });
  if (r.code !== 0) throw new Error(r.stderr);
}, 30_000);
afterAll(() => rmSync(work, { recursive: true, force: true }), 60_000);

/** A pid that belonged to a process that has exited. */
async function deadPid(): Promise<number> {
  const p = Bun.spawn(["true"]);
  await p.exited;
  return p.pid;
}

/** A source tree whose /who names its publisher: the change each publisher makes. */
function sourceFor(name: string): string {
  const dir = join(work, "sources", name);
  mkdirSync(join(dir, "common"), { recursive: true });
  for (let i = 0; i < 200; i++) writeFileSync(join(dir, "common", `f${i}`), `shared ${i}\n`);
  writeFileSync(join(dir, "who"), `${name}\n`);
  return dir;
}

interface Outcome { name: string; pid: number; code: number; stdout: string; stderr: string; }

async function publishAtOnce(names: string[]): Promise<Outcome[]> {
  const sources = names.map(sourceFor);
  const procs = names.map((name, i) => Bun.spawn([CVM, "publish", "sync", FQRN, sources[i], "--json", "--tag", name], {
    env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe",
  }));
  return Promise.all(procs.map(async (p, i) => {
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { name: names[i], pid: p.pid, code, stdout, stderr };
  }));
}

describe("the publish lock", () => {
  test(`${PUBLISHERS} publishers at once, ${ROUNDS} rounds, each round starting from a stale lock: one revision per success, none lost`, async () => {
    const published: { name: string; revision: number }[] = [];
    let lastRevision = 1; // init published revision 1
    for (let round = 0; round < ROUNDS; round++) {
      writeFileSync(lockFile(), `${await deadPid()}@${hostname()}\n`); // left by a publisher that died
      const outcomes = await publishAtOnce(Array.from({ length: PUBLISHERS }, (_, i) => `r${round}-p${i}`));
      const winners = outcomes.filter((o) => o.code === 0);
      const losers = outcomes.filter((o) => o.code !== 0);
      expect(winners.length).toBeGreaterThanOrEqual(1);
      const revisions = winners.map((w) => JSON.parse(w.stdout).revision as number).sort((a, b) => a - b);
      // distinct, consecutive, following the previous round
      expect(revisions).toEqual(revisions.map((_, i) => lastRevision + 1 + i));
      lastRevision += revisions.length;
      for (const w of winners) published.push({ name: w.name, revision: JSON.parse(w.stdout).revision });
      for (const l of losers) {
        expect({ name: l.name, code: l.code }).toEqual({ name: l.name, code: 1 });
        const m = /^cvm: (.+): another publish is running \(locked by pid (\d+)\); try again when it has finished\n$/.exec(l.stderr);
        expect({ name: l.name, stderr: m ? "one line" : l.stderr }).toEqual({ name: l.name, stderr: "one line" });
        expect(m![1]).toBe(storage);
        expect(winners.map((w) => w.pid)).toContain(Number(m![2])); // the holder is a publisher of this round
      }
    }

    // The storage's revision counts every success; each success's tag names its own revision and its own change.
    const repo = await Repository.open({ source: new DirectorySource(storage), fqrn: FQRN, masterKeys: loadMasterKeys({ keysDir: keys }).map((k) => k.key), state: null });
    try {
      expect(repo.manifest.revision).toBe(lastRevision);
      const tags = new Map((await repo.tags()).map((t) => [t.name, t]));
      for (const p of published) {
        const tag = tags.get(p.name);
        expect({ name: p.name, revision: tag?.revision }).toEqual({ name: p.name, revision: p.revision });
        const view = await repo.atRoot(tag!.hash);
        const pieces: Uint8Array[] = [];
        for await (const piece of view.content(await view.stat("/who"))) pieces.push(piece);
        expect(Buffer.concat(pieces).toString()).toBe(`${p.name}\n`);
        view.close();
      }
    } finally {
      repo.close();
    }
  }, 240_000);

  testWith("flock")("interoperates with flock(1), names the holder, and needs no clean-up after the holder is killed", async () => {
    const src = sourceFor("after-flock");
    // flock -o: only the flock process itself holds the lock; the shell prints once it is held
    const holder = Bun.spawn(["flock", "-n", "-o", lockFile(), "sh", "-c", "echo held; exec sleep 120"], { stdout: "pipe", stderr: "ignore" });
    const reader = holder.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("held\n");
    const refused = await cvm(["publish", "sync", FQRN, src], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`cvm: ${storage}: another publish is running (locked by pid ${holder.pid}); try again when it has finished\n`);
    const manifest = readFileSync(join(storage, ".cvmfspublished"));
    // The sleep outlives a killed flock (it is reparented): found while flock is its parent, then killed too.
    const sleeper = Number((await run(["pgrep", "-P", String(holder.pid)])).stdout.trim());
    holder.kill(9);
    await holder.exited;
    if (sleeper > 0) process.kill(sleeper, "SIGKILL");
    expect(readFileSync(join(storage, ".cvmfspublished")).equals(manifest)).toBe(true);
    const r = await cvm(["publish", "sync", FQRN, src], { env });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  }, 30_000);
});
