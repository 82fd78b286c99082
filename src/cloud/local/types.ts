import { CvmError } from "../../cli/errors";

/**
 * Instance types of the local region: EC2's names, sized for guests on one
 * machine (the appliance runs its whole system in a few hundred MiB).
 */
export const INSTANCE_TYPES: Record<string, { cpus: number; memoryMiB: number }> = {
  "t1.micro": { cpus: 1, memoryMiB: 384 },
  "m1.small": { cpus: 1, memoryMiB: 512 },
  "m1.medium": { cpus: 1, memoryMiB: 1024 },
  "m1.large": { cpus: 2, memoryMiB: 2048 },
  "m1.xlarge": { cpus: 4, memoryMiB: 4096 },
};
export const DEFAULT_TYPE = "m1.small";

export function instanceType(name: string | undefined): { name: string; cpus: number; memoryMiB: number } {
  const n = name ?? DEFAULT_TYPE;
  const t = INSTANCE_TYPES[n];
  if (!t) throw new CvmError(`instance type '${n}': the local region has ${Object.entries(INSTANCE_TYPES).map(([k, v]) => `${k} (${v.cpus} CPU, ${v.memoryMiB} MiB)`).join(", ")}`);
  return { name: n, ...t };
}
