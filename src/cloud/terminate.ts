import { sendOptions, withClient } from "./ec2";
import type { Region } from "./regions";

/** Instance IDs of a reservation (terminate --all-from r-…). */
export async function instancesOfReservation(region: Region, reservation: string): Promise<string[]> {
  if (region.local) return (await import("./local/region")).localReservation(reservation);
  return withClient(region, async (client) => {
    const { DescribeInstancesCommand } = await import("@aws-sdk/client-ec2");
    const out = await client.send(new DescribeInstancesCommand({ Filters: [{ Name: "reservation-id", Values: [reservation] }] }), sendOptions());
    return (out.Reservations ?? []).flatMap((r) => (r.Instances ?? []).map((i) => i.InstanceId ?? "")).filter(Boolean);
  });
}

export async function terminateInstances(region: Region, ids: string[]): Promise<{ id: string; from: string; to: string }[]> {
  if (region.local) return (await import("./local/region")).terminateLocal(ids);
  return withClient(region, async (client) => {
    const { TerminateInstancesCommand } = await import("@aws-sdk/client-ec2");
    const out = await client.send(new TerminateInstancesCommand({ InstanceIds: ids }), sendOptions());
    return (out.TerminatingInstances ?? []).map((t) => ({ id: t.InstanceId ?? "-", from: t.PreviousState?.Name ?? "-", to: t.CurrentState?.Name ?? "-" }));
  });
}
