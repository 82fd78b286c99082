import { randomUUID } from "node:crypto";
import type { Instance, Reservation, RunInstancesCommandInput } from "@aws-sdk/client-ec2";
import { describeCloudError, ec2Client, sendOptions } from "./ec2";
import type { Region } from "./regions";
import type { RegionFailure } from "./list";

export interface LaunchRequest {
  image: string;
  count: number;
  minCount?: number;
  instanceType?: string;
  group?: string;
  key?: string;
  kernel?: string;
  userData: Uint8Array;
  tags: [string, string][];
  clientToken?: string;       // the same token re-runs the same launch without starting it twice
}

export interface LaunchedInstance {
  region: string; reservation: string; owner: string; group: string; id: string; image: string;
  dns: string; state: string; key: string; index: number; type: string;
}

// Clouds that start one VM per call get the calls a few at a time.
const ONE_PER_CALL_CONCURRENCY = 4;

/** The RunInstances parameters for a region: its defaults under the flags. */
export function runInput(region: Region, r: LaunchRequest, count: number, token: string): RunInstancesCommandInput {
  const group = r.group ?? region.defaults.group;
  return {
    ImageId: r.image,
    MinCount: Math.min(r.minCount ?? count, count),
    MaxCount: count,
    InstanceType: (r.instanceType ?? region.defaults.instanceType) as RunInstancesCommandInput["InstanceType"],
    KeyName: r.key ?? region.defaults.key,
    SecurityGroups: group ? [group] : undefined,
    KernelId: r.kernel ?? region.defaults.kernel,
    UserData: r.userData.length ? Buffer.from(r.userData).toString("base64") : undefined,
    ClientToken: token,
    TagSpecifications: r.tags.length ? [{ ResourceType: "instance", Tags: r.tags.map(([Key, Value]) => ({ Key, Value })) }] : undefined,
  };
}

function rows(region: Region, res: Reservation | { ReservationId?: string; OwnerId?: string; Groups?: Reservation["Groups"]; Instances?: Instance[] }): LaunchedInstance[] {
  return (res.Instances ?? []).map((i) => ({
    region: region.name, reservation: res.ReservationId ?? "-", owner: res.OwnerId ?? "-",
    group: (res.Groups?.length ? res.Groups : i.SecurityGroups)?.map((g) => g.GroupName ?? g.GroupId).join(",") || "-",
    id: i.InstanceId ?? "-", image: i.ImageId ?? "-", dns: i.PublicDnsName || i.PrivateDnsName || "-", state: i.State?.Name ?? "-",
    key: i.KeyName ?? "-", index: i.AmiLaunchIndex ?? 0, type: i.InstanceType ?? "-",
  }));
}

/**
 * Starts the instances in every region at once: one RunInstances with
 * MinCount/MaxCount, or N calls on clouds that start one VM per call. Every
 * call carries a ClientToken (per-call tokens derive from it with the index),
 * so the SDK's retries, and a re-run with --client-token, start nothing twice.
 */
export async function launch(regions: Region[], r: LaunchRequest): Promise<{ instances: LaunchedInstance[]; failures: RegionFailure[]; clientToken: string }> {
  const { RunInstancesCommand } = await import("@aws-sdk/client-ec2");
  const base = r.clientToken ?? randomUUID();
  const results = await Promise.allSettled(regions.map(async (region) => {
    const client = await ec2Client(region);
    const token = regions.length > 1 ? `${base}-${region.name}` : base;
    try {
      if (!region.onePerCall) return rows(region, await client.send(new RunInstancesCommand(runInput(region, r, r.count, token)), sendOptions()));
      const out: LaunchedInstance[] = [];
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < r.count; i = next++) {
          const res = await client.send(new RunInstancesCommand(runInput(region, { ...r, minCount: 1 }, 1, `${token}-${i}`)), sendOptions());
          out.push(...rows(region, res).map((x) => ({ ...x, index: i })));
        }
      };
      await Promise.all(Array.from({ length: Math.min(ONE_PER_CALL_CONCURRENCY, r.count) }, worker));
      return out.sort((a, b) => a.index - b.index);
    } finally {
      client.destroy();
    }
  }));
  const instances: LaunchedInstance[] = [], failures: RegionFailure[] = [];
  results.forEach((res, i) => (res.status === "fulfilled" ? instances.push(...res.value) : failures.push({ region: regions[i].name, message: describeCloudError(regions[i], res.reason) })));
  return { instances, failures, clientToken: base };
}

/** Polls until every instance is running or has ended; reports progress; gives up after `timeoutMs`. */
export async function waitRunning(regions: Region[], launched: LaunchedInstance[], o: { intervalMs: number; timeoutMs: number; onProgress?: (running: number, total: number) => void }): Promise<LaunchedInstance[]> {
  const { DescribeInstancesCommand } = await import("@aws-sdk/client-ec2");
  const deadline = Date.now() + o.timeoutMs;
  let current = launched;
  for (;;) {
    const updated: LaunchedInstance[] = [];
    for (const region of regions) {
      const ids = current.filter((i) => i.region === region.name).map((i) => i.id);
      if (!ids.length) continue;
      const client = await ec2Client(region);
      try {
        const out = await client.send(new DescribeInstancesCommand({ InstanceIds: ids }), sendOptions());
        for (const res of out.Reservations ?? []) updated.push(...rows(region, res));
      } finally {
        client.destroy();
      }
    }
    const byId = new Map(updated.map((i) => [i.id, i]));
    current = current.map((i) => ({ ...(byId.get(i.id) ?? i), index: i.index }));
    const settled = current.filter((i) => i.state !== "pending").length;
    o.onProgress?.(current.filter((i) => i.state === "running").length, current.length);
    if (settled === current.length || Date.now() > deadline) return current;
    await Bun.sleep(o.intervalMs);
  }
}
