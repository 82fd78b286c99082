import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "ls", description: "List instances (or images with -i) in one or more regions" },
  args: {
    images: { type: "boolean", alias: "i", description: "List images instead of instances" },
    region: { type: "string", description: "Region from regions.ini, or EC2 (repeatable; 'all' = every region)", valueHint: "name" },
    "aws-region": { type: "string", description: "AWS region of the built-in EC2 region [AWS_REGION, then us-east-1]" },
    headers: { type: "boolean", alias: "H", description: "Header line" },
    json: { type: "boolean", description: "Full objects as JSON" },
    wide: { type: "boolean", description: "Add launch time and region" },
    state: { type: "string", description: "Only instances in this state (running, stopped, …)" },
    owner: { type: "string", description: "self or an account ID" },
    name: { type: "string", description: "Name (tag Name of instances, name of images); * and ? match", valueHint: "pattern" },
    tag: { type: "string", description: "Only with this tag (repeatable)", valueHint: "K=V" },
  },
  async run({ args, rawArgs }) {
    const { allValues, keyValues } = await import("../src/cli/args");
    const { loadRegions, selectRegions } = await import("../src/cloud/regions");
    const { listImages, listInstances } = await import("../src/cloud/list");
    const { printJson, printTable } = await import("../src/cli/output");
    const { CvmError, EXIT } = await import("../src/cli/errors");
    const tags = keyValues(rawArgs, "tag");
    const regions = selectRegions(loadRegions({ awsRegion: args["aws-region"] }), allValues(rawArgs, ["region"]));
    const filters = { state: args.state, owner: args.owner, name: args.name, tags };
    const many = regions.length > 1;
    let failures;
    if (args.images) {
      const r = await listImages(regions, filters);
      failures = r.failures;
      if (args.json) printJson(r.rows);
      else printTable([...(many || args.wide ? ["REGION"] : []), "AMI", "LOCATION", "STATE", "VISIBILITY", "ARCH", "TYPE", ...(args.wide ? ["NAME"] : [])],
        r.rows.map((i) => [...(many || args.wide ? [i.region] : []), i.id, i.location, i.state, i.visibility, i.arch, i.type, ...(args.wide ? [i.name] : [])]), !!args.headers);
    } else {
      const r = await listInstances(regions, filters);
      failures = r.failures;
      if (args.json) printJson(r.rows);
      else printTable([...(many || args.wide ? ["REGION"] : []), "ID", "RID", "OWNER", "GROUP", "DNS", "STATE", "KEY", "TYPE", ...(args.wide ? ["LAUNCHED"] : [])],
        r.rows.map((i) => [...(many || args.wide ? [i.region] : []), i.id, i.reservation, i.owner, i.group, i.dns, i.state, i.key, i.type, ...(args.wide ? [i.launched] : [])]), !!args.headers);
    }
    for (const f of failures) process.stderr.write(`cvm: ${f.region}: ${f.message}\n`);
    if (failures.length) throw new CvmError(`${failures.length} of ${regions.length} region(s) failed`, failures.length === regions.length ? EXIT.failure : EXIT.partial);
  },
});
