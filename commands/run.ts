import { defineCommand } from "citty";
import { UsageError } from "../src/cli/errors";

export default defineCommand({
  meta: { name: "run", description: "Start contextualized instances from an image (one region or several)" },
  args: {
    image: { type: "positional", required: true, description: "Image ID (ami-…)" },
    type: { type: "string", alias: "t", description: "Instance type [region default]" },
    group: { type: "string", alias: "g", description: "Security group [region default]" },
    key: { type: "string", description: "Key pair name [region default]" },
    kernel: { type: "string", description: "Kernel image (aki-…) [region default]" },
    template: { type: "string", description: "user_data template, with an optional count: panda-wn:10", valueHint: "name[:N]" },
    count: { type: "string", alias: "n", description: "Number of instances [1, or the template's count]" },
    min: { type: "string", description: "Accept fewer, down to this many (MinCount)" },
    "user-data": { type: "string", description: "user_data from a file instead of a template", valueHint: "file" },
    set: { type: "string", description: "Template variable (repeatable)", valueHint: "KEY=VALUE" },
    tag: { type: "string", description: "Tag the instances (repeatable)", valueHint: "K=V" },
    proxy: { type: "boolean", description: "Put a grid proxy into user_data (x509-cert)" },
    "proxy-valid": { type: "string", description: "The proxy must be valid this long [12:00]", valueHint: "H:M" },
    limited: { type: "boolean", description: "With --proxy: a limited proxy if one must be made" },
    "client-token": { type: "string", description: "Idempotency token: re-running with it starts nothing twice" },
    wait: { type: "boolean", description: "Wait until all are running; print their addresses" },
    "dry-run": { type: "boolean", description: "Print the request and user_data; call nothing" },
    region: { type: "string", description: "Region (repeatable)", valueHint: "name" },
    "aws-region": { type: "string", description: "AWS region of the built-in EC2 region" },
    headers: { type: "boolean", alias: "H", description: "Header line" },
    json: { type: "boolean", description: "Result as JSON" },
  },
  async run({ args, rawArgs }) {
    const { allValues, keyValues, positiveInteger } = await import("../src/cli/args");
    const { CvmError, EXIT } = await import("../src/cli/errors");
    const { loadRegions, selectRegions } = await import("../src/cloud/regions");
    const { findTemplate, parseTemplateSpec, renderTemplate } = await import("../src/cloud/templates");
    const { packUserData, readUserDataFile, withProxy } = await import("../src/cloud/user-data");
    const pairs = (name: string) => keyValues(rawArgs, name);
    if (!/^[a-z]+-[0-9a-zA-Z]+$/.test(args.image)) throw new UsageError(`image '${args.image}': expected an image ID such as ami-0123abcd`);
    if (args.template && args["user-data"]) throw new UsageError("--template and --user-data exclude each other");
    const spec = args.template ? parseTemplateSpec(args.template) : undefined;
    const count = args.count ? positiveInteger(args.count, "count") : spec?.count ?? 1;
    const minCount = args.min ? positiveInteger(args.min, "min") : undefined;
    if (minCount && minCount > count) throw new UsageError(`--min ${minCount} is more than the ${count} instances asked for`);
    const regions = selectRegions(loadRegions({ awsRegion: args["aws-region"] }), allValues(rawArgs, ["region"]));

    const { templateVariables } = await import("../src/cloud/templates");
    let userData = spec ? renderTemplate(findTemplate(spec.name), templateVariables(regions[0], Object.fromEntries(pairs("set")))) : args["user-data"] ? readUserDataFile(args["user-data"]) : "";
    if (args.proxy) {
      const { proxyForLaunch } = await import("../src/cloud/proxy");
      userData = withProxy(userData, await proxyForLaunch({ valid: args["proxy-valid"] ?? "12:00", limited: !!args.limited }));
    }
    const packed = packUserData(userData);
    const request = { image: args.image, count, minCount, instanceType: args.type, group: args.group, key: args.key, kernel: args.kernel, userData: packed.bytes, tags: pairs("tag"), clientToken: args["client-token"] };

    if (args["dry-run"]) {
      const { runInput } = await import("../src/cloud/launch");
      const { printJson } = await import("../src/cli/output");
      printJson(regions.map((r) => ({ region: r.name, endpoint: r.endpoint ?? `EC2 ${r.signingRegion}`, onePerCall: r.onePerCall,
        request: { ...runInput(r, request, r.onePerCall ? 1 : count, request.clientToken ?? "<generated>"), UserData: packed.gzipped ? `<${packed.bytes.length} bytes gzipped>` : undefined } })));
      process.stdout.write(`--- user_data (${packed.bytes.length} bytes${packed.gzipped ? ", gzipped" : ""}) ---\n${userData}`);
      return;
    }
    const { launch, waitRunning } = await import("../src/cloud/launch");
    const result = await launch(regions, request);
    let instances = result.instances;
    if (args.wait && instances.length) {
      const { Progress } = await import("../src/cli/progress");
      const progress = new Progress("starting", instances.length);
      instances = await waitRunning(regions, instances, { intervalMs: Number(process.env.CVM_POLL_MS) || 3000, timeoutMs: 15 * 60_000, onProgress: (n, total) => progress.update(n, "running", total) });
      progress.done();
    }
    const many = regions.length > 1;
    if (args.json) (await import("../src/cli/output")).printJson({ clientToken: result.clientToken, instances, failures: result.failures });
    else {
      const { printTable } = await import("../src/cli/output");
      printTable([...(many ? ["REGION"] : []), "RESERVATION", "OWNER", "GROUP", "INSTANCE", "AMI", "DNS", "STATE", "KEY", "INDEX", "TYPE"],
        instances.map((i) => [...(many ? [i.region] : []), i.reservation, i.owner, i.group, i.id, i.image, i.dns, i.state, i.key, String(i.index), i.type]), !!args.headers);
      const { log } = await import("../src/cli/log");
      log.debug(`client token: ${result.clientToken} (re-run with --client-token ${result.clientToken} to retry without starting twice)`);
    }
    for (const f of result.failures) process.stderr.write(`cvm: ${f.region}: ${f.message}\n`);
    if (result.failures.length) throw new CvmError(`${result.failures.length} of ${regions.length} region(s) failed`, result.failures.length === regions.length ? EXIT.failure : EXIT.partial);
  },
});
