import type { Instance, Reservation } from "@aws-sdk/client-ec2";
import { printable } from "./errors";

/** One instance as ls and run print it (and --json gives it). */
export interface InstanceRow {
  region: string; id: string; reservation: string; owner: string; group: string; image: string; dns: string;
  state: string; reason: string; key: string; index: number; type: string; launched: string; tags: Record<string, string>;
}

/** A field from the cloud, for a tab-separated line on a terminal: no control characters, "-" when empty. */
export const field = (s: string | undefined) => (s ? printable(s, 1024) : "-");

/** The rows of one reservation (a DescribeInstances item, or a RunInstances answer, which has the same shape). */
export function instanceRows(region: string, r: Pick<Reservation, "ReservationId" | "OwnerId" | "Groups"> & { Instances?: Instance[] }): InstanceRow[] {
  return (r.Instances ?? []).map((i) => ({
    region, id: field(i.InstanceId), reservation: field(r.ReservationId), owner: field(r.OwnerId),
    group: field((r.Groups?.length ? r.Groups : i.SecurityGroups)?.map((g) => g.GroupName ?? g.GroupId).join(",")),
    image: field(i.ImageId), dns: field(i.PublicDnsName || i.PrivateDnsName), state: field(i.State?.Name),
    reason: field(i.StateReason?.Message || i.StateReason?.Code), key: field(i.KeyName), index: i.AmiLaunchIndex ?? 0,
    type: field(i.InstanceType), launched: i.LaunchTime && !Number.isNaN(i.LaunchTime.getTime()) ? i.LaunchTime.toISOString() : "-",
    tags: Object.fromEntries((i.Tags ?? []).map((t) => [printable(t.Key ?? "", 1024), printable(t.Value ?? "", 1024)])),
  }));
}
