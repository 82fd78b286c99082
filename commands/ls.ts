import { defineCommand } from "citty";
import { outputArgs, regionArgs } from "./cloud-common";

export default defineCommand({
  meta: { name: "ls", description: "List instances (or images with -i) in one or more regions" },
  args: {
    images: { type: "boolean", alias: "i", description: "List images instead of instances" },
    ...regionArgs,
    ...outputArgs,
    wide: { type: "boolean", description: "Add launch time and region" },
    state: { type: "string", description: "Only instances in this state (running, stopped, …)" },
    owner: { type: "string", description: "self or an account ID" },
    name: { type: "string", description: "Name (tag Name of instances, name of images); * and ? match", valueHint: "pattern" },
    tag: { type: "string", description: "Only with this tag (repeatable)", valueHint: "K=V" },
  },
  async run({ args, rawArgs }) {
    const { keyValues } = await import("../src/cli/args");
    const { listImages, listInstances } = await import("../src/cloud/list");
    const { printJson, printTable } = await import("../src/cli/output");
    const { failWith, selectedRegions } = await import("./cloud-common");
    const tags = keyValues(rawArgs, "tag");
    const regions = await selectedRegions(args, rawArgs);
    const filters = { state: args.state, owner: args.owner, name: args.name, tags };
    const region = regions.length > 1 || args.wide;
    let failures;
    if (args.images) {
      const r = await listImages(regions, filters);
      failures = r.failures;
      if (args.json) printJson(r.rows);
      else printTable([...(region ? ["REGION"] : []), "AMI", "LOCATION", "STATE", "VISIBILITY", "ARCH", "TYPE", ...(args.wide ? ["NAME"] : [])],
        r.rows.map((i) => [...(region ? [i.region] : []), i.id, i.location, i.state, i.visibility, i.arch, i.type, ...(args.wide ? [i.name] : [])]), !!args.headers);
    } else {
      const r = await listInstances(regions, filters);
      failures = r.failures;
      if (args.json) printJson(r.rows);
      else printTable([...(region ? ["REGION"] : []), "ID", "RID", "OWNER", "GROUP", "DNS", "STATE", "KEY", "TYPE", ...(args.wide ? ["LAUNCHED"] : [])],
        r.rows.map((i) => [...(region ? [i.region] : []), i.id, i.reservation, i.owner, i.group, i.dns, i.state, i.key, i.type, ...(args.wide ? [i.launched] : [])]), !!args.headers);
    }
    await failWith(failures, { somethingWorked: failures.length < regions.length, summary: `${failures.length} of ${regions.length} region(s) failed` });
  },
});
