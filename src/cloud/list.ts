import type { _InstanceType, Filter } from "@aws-sdk/client-ec2";
import { describeCloudError, ec2Client, sendOptions } from "./ec2";
import type { Region } from "./regions";

export interface InstanceRow {
  region: string; id: string; reservation: string; owner: string; group: string; dns: string;
  state: string; key: string; type: string; launched: string; image: string; tags: Record<string, string>;
}
export interface ImageRow { region: string; id: string; location: string; state: string; visibility: string; arch: string; type: string; name: string; owner: string; }
export interface RegionFailure { region: string; message: string; }

export interface ListFilters { state?: string; owner?: string; name?: string; tags?: [string, string][]; }

/** Runs `work` on every region at once; a region that fails is reported, the others still answer. */
async function fanOut<T>(regions: Region[], work: (r: Region) => Promise<T[]>): Promise<{ rows: T[]; failures: RegionFailure[] }> {
  const results = await Promise.allSettled(regions.map(work));
  const rows: T[] = [], failures: RegionFailure[] = [];
  results.forEach((res, i) => (res.status === "fulfilled" ? rows.push(...res.value) : failures.push({ region: regions[i].name, message: describeCloudError(regions[i], res.reason) })));
  return { rows, failures };
}

const dash = (s: string | undefined) => (s ? s : "-");

export function instanceFilters(f: ListFilters): Filter[] {
  const out: Filter[] = [];
  if (f.state) out.push({ Name: "instance-state-name", Values: [f.state] });
  if (f.owner && f.owner !== "self") out.push({ Name: "owner-id", Values: [f.owner] });
  if (f.name) out.push({ Name: "tag:Name", Values: [f.name] });
  for (const [k, v] of f.tags ?? []) out.push({ Name: `tag:${k}`, Values: [v] });
  return out;
}

export function listInstances(regions: Region[], f: ListFilters) {
  return fanOut(regions, async (region) => {
    const { paginateDescribeInstances } = await import("@aws-sdk/client-ec2");
    const client = await ec2Client(region);
    const rows: InstanceRow[] = [];
    const filters = instanceFilters(f);
    for await (const page of paginateDescribeInstances({ client, pageSize: 1000 }, filters.length ? { Filters: filters } : {}, sendOptions())) {
      for (const r of page.Reservations ?? []) for (const i of r.Instances ?? []) {
        rows.push({
          region: region.name, id: dash(i.InstanceId), reservation: dash(r.ReservationId), owner: dash(r.OwnerId),
          group: dash((r.Groups?.length ? r.Groups : i.SecurityGroups)?.map((g) => g.GroupName ?? g.GroupId).join(",")),
          dns: dash(i.PublicDnsName || i.PrivateDnsName), state: dash(i.State?.Name), key: dash(i.KeyName), type: dash(i.InstanceType as _InstanceType | undefined),
          launched: i.LaunchTime ? i.LaunchTime.toISOString() : "-", image: dash(i.ImageId),
          tags: Object.fromEntries((i.Tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""])),
        });
      }
    }
    client.destroy();
    return rows;
  });
}

export function listImages(regions: Region[], f: ListFilters) {
  return fanOut(regions, async (region) => {
    const { DescribeImagesCommand } = await import("@aws-sdk/client-ec2");
    const client = await ec2Client(region);
    const filters: Filter[] = f.name ? [{ Name: "name", Values: [f.name] }] : [];
    for (const [k, v] of f.tags ?? []) filters.push({ Name: `tag:${k}`, Values: [v] });
    const out = await client.send(new DescribeImagesCommand({ Owners: f.owner ? [f.owner] : undefined, Filters: filters.length ? filters : undefined }), sendOptions());
    client.destroy();
    return (out.Images ?? []).map((i): ImageRow => ({
      region: region.name, id: dash(i.ImageId), location: dash(i.ImageLocation), state: dash(i.State), visibility: i.Public ? "public" : "private",
      arch: dash(i.Architecture), type: dash(i.ImageType), name: dash(i.Name), owner: dash(i.OwnerId),
    }));
  });
}
