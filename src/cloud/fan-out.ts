import { CvmError } from "../cli/errors";
import { describeCloudError } from "./ec2";
import type { Region } from "./regions";

export interface RegionFailure { region: string; message: string; }

/** Runs `work` on every region at once; a region that fails is reported in one line, the others still answer. */
export async function fanOut<T>(regions: Region[], work: (r: Region) => Promise<T[]>): Promise<{ rows: T[]; failures: RegionFailure[] }> {
  const results = await Promise.allSettled(regions.map(work));
  const rows: T[] = [], failures: RegionFailure[] = [];
  results.forEach((res, i) => (res.status === "fulfilled" ? rows.push(...res.value) : failures.push({ region: regions[i].name, message: res.reason instanceof CvmError ? res.reason.message : describeCloudError(regions[i], res.reason) })));
  return { rows, failures };
}
