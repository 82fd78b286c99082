import { defineCommand } from "citty";
import { CvmError, UsageError } from "../src/cli/errors";
import type { CvmCommand } from "../src/cli/run";
import { regionArgs } from "./cloud-common";

const command: CvmCommand = defineCommand({
  meta: { name: "terminate", description: "Terminate instances (asks first unless -y)" },
  args: {
    ids: { type: "positional", required: false, description: "Instance IDs (i-…)" },
    "all-from": { type: "string", description: "Every instance of this reservation", valueHint: "r-…" },
    yes: { type: "boolean", alias: "y", description: "Do not ask for confirmation" },
    ...regionArgs,
  },
  async run({ args, rawArgs }) {
    const { instancesOfReservation, terminateInstances } = await import("../src/cloud/terminate");
    const { describeCloudError } = await import("../src/cloud/ec2");
    const { selectedRegions } = await import("./cloud-common");
    const regions = await selectedRegions(args, rawArgs);
    if (regions.length !== 1) throw new UsageError("terminate works on one region at a time; give --region NAME");
    const region = regions[0];
    let ids = (args._ as string[]).filter(Boolean);
    if (!ids.length && !args["all-from"]) throw new UsageError("give instance IDs, or --all-from RESERVATION");
    for (const id of ids) if (!/^i-[0-9a-zA-Z]+$/.test(id)) throw new UsageError(`'${id}' is not an instance ID (i-…)`);
    try {
      if (args["all-from"]) ids = [...ids, ...(await instancesOfReservation(region, args["all-from"]))];
      if (!ids.length) throw new CvmError(`${region.name}: reservation ${args["all-from"]} has no instances`);
      if (!args.yes) {
        if (!process.stdin.isTTY) throw new UsageError(`refusing to terminate ${ids.length} instance(s) without confirmation; add -y`);
        const { log } = await import("../src/cli/log");
        const answer = await log.prompt(`Terminate ${ids.length} instance(s) in ${region.name}: ${ids.join(" ")}?`, { type: "confirm", initial: false });
        if (answer !== true) throw new CvmError("nothing terminated");
      }
      for (const t of await terminateInstances(region, ids)) process.stdout.write(`${t.id}\t${t.from}\t${t.to}\n`);
    } catch (err) {
      if (err instanceof CvmError) throw err;
      throw new CvmError(`${region.name}: ${describeCloudError(region, err)}`);
    }
  },
});
command.variadic = true;
export default command;
