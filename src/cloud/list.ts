import type { Filter } from "@aws-sdk/client-ec2";
import { sendOptions, withClient } from "./ec2";
import { fanOut } from "./fan-out";
import { allPages, PAGE_SIZE } from "./paginate";
import type { Region } from "./regions";
import { field, instanceRows } from "./rows";

export interface ImageRow { region: string; id: string; location: string; state: string; visibility: string; arch: string; type: string; name: string; owner: string; }
export interface ListFilters { state?: string; owner?: string; name?: string; tags?: [string, string][]; }

function instanceFilters(f: ListFilters): Filter[] {
  const out: Filter[] = [];
  if (f.state) out.push({ Name: "instance-state-name", Values: [f.state] });
  if (f.owner && f.owner !== "self") out.push({ Name: "owner-id", Values: [f.owner] });
  if (f.name) out.push({ Name: "tag:Name", Values: [f.name] });
  for (const [k, v] of f.tags ?? []) out.push({ Name: `tag:${k}`, Values: [v] });
  return out;
}

function imageFilters(f: ListFilters): Filter[] {
  const out: Filter[] = f.name ? [{ Name: "name", Values: [f.name] }] : [];
  for (const [k, v] of f.tags ?? []) out.push({ Name: `tag:${k}`, Values: [v] });
  return out;
}

/** Instances of every region, all pages. */
export function listInstances(regions: Region[], f: ListFilters) {
  return fanOut(regions, async (region) => region.local ? (await import("./local/region")).listLocalInstances(f) : withClient(region, async (client) => {
    const { DescribeInstancesCommand } = await import("@aws-sdk/client-ec2");
    const filters = instanceFilters(f);
    return allPages(async (token) => {
      const out = await client.send(new DescribeInstancesCommand({ Filters: filters.length ? filters : undefined, MaxResults: PAGE_SIZE, NextToken: token }), sendOptions());
      return { items: (out.Reservations ?? []).flatMap((r) => instanceRows(region.name, r)), next: out.NextToken };
    }, "instances");
  }));
}

/** Images of every region, all pages. */
export function listImages(regions: Region[], f: ListFilters) {
  return fanOut(regions, async (region) => region.local ? (await import("./local/region")).listLocalImages() : withClient(region, async (client) => {
    const { DescribeImagesCommand } = await import("@aws-sdk/client-ec2");
    const filters = imageFilters(f);
    return allPages(async (token) => {
      const out = await client.send(new DescribeImagesCommand({ Owners: f.owner ? [f.owner] : undefined, Filters: filters.length ? filters : undefined, MaxResults: PAGE_SIZE, NextToken: token }), sendOptions());
      return {
        items: (out.Images ?? []).map((i): ImageRow => ({
          region: region.name, id: field(i.ImageId), location: field(i.ImageLocation), state: field(i.State), visibility: i.Public ? "public" : "private",
          arch: field(i.Architecture), type: field(i.ImageType), name: field(i.Name), owner: field(i.OwnerId),
        })),
        next: out.NextToken,
      };
    }, "images");
  }));
}
