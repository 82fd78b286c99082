// Arguments and endings every cloud command (ls, run, terminate, regions, template) shares.
import type { RegionFailure } from "../src/cloud/fan-out";

export const regionArgs = {
  region: { type: "string", description: "Region from regions.ini, or EC2 (repeatable; 'all' = every region)", valueHint: "name" },
  "aws-region": { type: "string", description: "AWS region of the built-in EC2 region [AWS_REGION, then us-east-1]" },
} as const;

export const outputArgs = {
  headers: { type: "boolean", alias: "H", description: "Header line" },
  json: { type: "boolean", description: "As JSON" },
} as const;

/** The regions named with --region (none: EC2), from regions.ini and the built-in one. */
export async function selectedRegions(args: { "aws-region"?: string }, rawArgs: string[]) {
  const { allValues } = await import("../src/cli/args");
  const { loadRegions, selectRegions } = await import("../src/cloud/regions");
  return selectRegions(loadRegions({ awsRegion: args["aws-region"] }), allValues(rawArgs, ["region"]));
}

/**
 * Ends a command that had failures: one failure is the one error line
 * (`cvm: REGION: why`); several are a line each and a count. Exit 3 when
 * something else worked (partial), else 1.
 */
export async function failWith(failures: RegionFailure[], o: { somethingWorked: boolean; summary: string }): Promise<void> {
  if (!failures.length) return;
  const { CvmError, EXIT } = await import("../src/cli/errors");
  const code = o.somethingWorked ? EXIT.partial : EXIT.failure;
  if (failures.length === 1) throw new CvmError(`${failures[0].region}: ${failures[0].message}`, code);
  for (const f of failures) process.stderr.write(`cvm: ${f.region}: ${f.message}\n`);
  throw new CvmError(o.summary, code);
}
