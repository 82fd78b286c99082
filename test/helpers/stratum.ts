// A repository published by cvm and served by `cvm serve` on a free loopback port: what a guest
// (or the local region) mounts. Stopped by the test that started it.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { startCvmServe } from "./cvm-serve";
import { cvm } from "./run";

export interface Published { fqrn: string; storage: string; keys: string; env: Record<string, string>; }

/** `cvm publish init` then one `sync` of `src`; later revisions through `sync`. */
export async function publishRepository(work: string, fqrn: string, src: string): Promise<Published> {
  const p: Published = { fqrn, storage: join(work, "srv", fqrn), keys: join(work, "keys"), env: { CVM_CONFIG_DIR: join(work, "publisher"), CVM_STATE_DIR: join(work, "state") } };
  mkdirSync(join(work, "srv"), { recursive: true });
  const init = await cvm(["publish", "init", fqrn, "--storage", p.storage, "--keys", p.keys], { env: p.env });
  if (init.code !== 0) throw new Error(`publish init: ${init.stderr}`);
  await sync(p, src);
  return p;
}

export async function sync(p: Published, src: string): Promise<void> {
  const r = await cvm(["publish", "sync", p.fqrn, src], { env: p.env });
  if (r.code !== 0) throw new Error(`publish sync: ${r.stderr}`);
}

export interface Served { port: number; stop(): Promise<void>; }

/** `cvm serve` on 127.0.0.1 and a port the kernel picks (test/helpers/cvm-serve.ts). */
export async function serveStorage(storage: string): Promise<Served> {
  const s = await startCvmServe([storage]);
  return { port: Number(new URL(s.base).port), stop: s.stop };
}
