import { randomUUID } from "node:crypto";
import type { RunInstancesCommandInput } from "@aws-sdk/client-ec2";
import { sendOptions, withClient } from "./ec2";
import { fanOut, type RegionFailure } from "./fan-out";
import type { Region } from "./regions";
import { instanceRows, type InstanceRow } from "./rows";

export interface LaunchRequest {
  image: string;
  count: number;
  minCount?: number;
  instanceType?: string;
  group?: string;
  key?: string;
  kernel?: string;
  tags: [string, string][];
  clientToken?: string;       // the same token re-runs the same launch without starting it twice
  context?: "imds" | "disk";  // the local region: user_data from its metadata service or a context disk
}

/** A region to launch in and the user data rendered for it (templates may use its own variables). */
export interface LaunchTarget { region: Region; userData: Uint8Array; }

// Clouds that start one VM per call get the calls a few at a time.
const ONE_PER_CALL_CONCURRENCY = 4;

/** The RunInstances parameters for a region: its defaults under the flags. */
export function runInput(region: Region, r: LaunchRequest, userData: Uint8Array, count: number, token: string): RunInstancesCommandInput {
  const group = r.group ?? region.defaults.group;
  return {
    ImageId: r.image,
    MinCount: Math.min(r.minCount ?? count, count),
    MaxCount: count,
    InstanceType: (r.instanceType ?? region.defaults.instanceType) as RunInstancesCommandInput["InstanceType"],
    KeyName: r.key ?? region.defaults.key,
    SecurityGroups: group ? [group] : undefined,
    KernelId: r.kernel ?? region.defaults.kernel,
    UserData: userData.length ? Buffer.from(userData).toString("base64") : undefined,
    ClientToken: token,
    TagSpecifications: r.tags.length ? [{ ResourceType: "instance", Tags: r.tags.map(([Key, Value]) => ({ Key, Value })) }] : undefined,
  };
}

/**
 * Starts the instances in every region at once: one RunInstances with
 * MinCount/MaxCount, or N calls on clouds that start one VM per call. Every
 * call carries a ClientToken (per-call tokens derive from it with the index),
 * so the SDK's retries, and a re-run with --client-token, start nothing twice.
 */
export async function launch(targets: LaunchTarget[], r: LaunchRequest): Promise<{ instances: InstanceRow[]; failures: RegionFailure[]; clientToken: string }> {
  const { RunInstancesCommand } = await import("@aws-sdk/client-ec2");
  const base = r.clientToken ?? randomUUID();
  const userData = new Map(targets.map((t) => [t.region.name, t.userData]));
  const { rows, failures } = await fanOut(targets.map((t) => t.region), async (region) => region.local
    ? (await import("./local/region")).launchLocal(region, { image: r.image, count: r.count, instanceType: r.instanceType, key: r.key, tags: r.tags, userData: userData.get(region.name)!, context: r.context ?? "imds" })
    : withClient(region, async (client) => {
    const token = targets.length > 1 ? `${base}-${region.name}` : base;
    const data = userData.get(region.name)!;
    if (!region.onePerCall) return instanceRows(region.name, await client.send(new RunInstancesCommand(runInput(region, r, data, r.count, token)), sendOptions()));
    const out: InstanceRow[] = [];
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < r.count; i = next++) {
        const res = await client.send(new RunInstancesCommand(runInput(region, { ...r, minCount: 1 }, data, 1, `${token}-${i}`)), sendOptions());
        out.push(...instanceRows(region.name, res).map((x) => ({ ...x, index: i })));
      }
    };
    await Promise.all(Array.from({ length: Math.min(ONE_PER_CALL_CONCURRENCY, r.count) }, worker));
    return out.sort((a, b) => a.index - b.index);
  }));
  return { instances: rows, failures, clientToken: base };
}

/** DescribeInstances of just-started instances: EC2 may not know them yet for a moment (eventual consistency). */
async function pollStates(region: Region, ids: string[]): Promise<InstanceRow[]> {
  const { DescribeInstancesCommand } = await import("@aws-sdk/client-ec2");
  return withClient(region, async (client) => {
    try {
      const out = await client.send(new DescribeInstancesCommand({ InstanceIds: ids }), sendOptions());
      return (out.Reservations ?? []).flatMap((res) => instanceRows(region.name, res));
    } catch (err) {
      if ((err as { name?: string }).name === "InvalidInstanceID.NotFound") return [];
      throw err;
    }
  });
}

/**
 * Polls until no instance is pending any more, or `timeoutMs` is up; reports
 * progress. Returns the instances as they ended up and one failure per
 * instance that is not running (terminated while starting, say for lack of
 * capacity, or still pending), or per region whose polling failed.
 */
export async function waitRunning(regions: Region[], launched: InstanceRow[], o: { intervalMs: number; timeoutMs: number; onProgress?: (running: number, total: number) => void }): Promise<{ instances: InstanceRow[]; failures: RegionFailure[] }> {
  if (regions.some((r) => r.local)) {
    // the local region's guests are waited on until their agents report (src/cloud/local), the clouds' as below
    const { waitLocal } = await import("./local/region");
    const clouds = regions.filter((r) => !r.local);
    const [local, other] = await Promise.all([
      waitLocal(launched.filter((i) => i.region === "local"), { ...o, intervalMs: Math.min(o.intervalMs, 500) }),
      clouds.length ? waitRunning(clouds, launched.filter((i) => i.region !== "local"), { ...o, onProgress: undefined }) : { instances: [], failures: [] },
    ]);
    return { instances: [...local.instances, ...other.instances], failures: [...local.failures, ...other.failures] };
  }
  const deadline = Date.now() + o.timeoutMs;
  const failures: RegionFailure[] = [];
  const givenUp = new Set<string>();
  let current = launched;
  const pendingIn = (region: Region) => current.filter((i) => i.region === region.name && i.state === "pending").map((i) => i.id);
  for (;;) {
    const waiting = regions.filter((r) => !givenUp.has(r.name) && pendingIn(r).length);
    if (!waiting.length) break;
    const polled = await fanOut(waiting, (region) => pollStates(region, pendingIn(region)));
    for (const f of polled.failures) {
      failures.push({ region: f.region, message: `stopped waiting: ${f.message}` });
      givenUp.add(f.region);
    }
    const byId = new Map(polled.rows.map((i) => [i.id, i]));
    current = current.map((i) => (byId.has(i.id) ? { ...byId.get(i.id)!, index: i.index } : i));
    o.onProgress?.(current.filter((i) => i.state === "running").length, current.length);
    if (Date.now() > deadline) break;
    if (regions.some((r) => !givenUp.has(r.name) && pendingIn(r).length)) await Bun.sleep(o.intervalMs);
  }
  for (const i of current) {
    if (i.state === "running" || givenUp.has(i.region)) continue;
    const why = i.reason !== "-" ? ` (${i.reason})` : "";
    failures.push({ region: i.region, message: i.state === "pending" ? `${i.id} still pending after ${Math.round(o.timeoutMs / 1000)} s` : `${i.id} ${i.state} while starting${why}` });
  }
  return { instances: current, failures };
}
