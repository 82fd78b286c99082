import { defineCommand } from "citty";
import { UsageError } from "../src/cli/errors";
import { outputArgs, regionArgs } from "./cloud-common";

// How long --wait waits for instances to leave "pending".
const WAIT_TIMEOUT_MS = 15 * 60_000;

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
    set: { type: "string", description: "Template variable, over the region's own (repeatable)", valueHint: "KEY=VALUE" },
    tag: { type: "string", description: "Tag the instances (repeatable)", valueHint: "K=V" },
    proxy: { type: "boolean", description: "Put a grid proxy into user_data (x509-cert)" },
    "proxy-valid": { type: "string", description: "The proxy must be valid this long [12:00]", valueHint: "H:M" },
    limited: { type: "boolean", description: "With --proxy: a limited proxy if one must be made" },
    "client-token": { type: "string", description: "Idempotency token: re-running with it starts nothing twice" },
    wait: { type: "boolean", description: "Wait until all are running; print them as they ended up" },
    "dry-run": { type: "boolean", description: "Print the requests and user_data; call nothing" },
    context: { type: "string", description: "The local region: user_data from the metadata service (imds) or an OpenNebula context disk (disk) [imds]", valueHint: "imds|disk" },
    ...regionArgs,
    ...outputArgs,
  },
  async run({ args, rawArgs }) {
    const { keyValues, positiveInteger } = await import("../src/cli/args");
    const { regionsFile } = await import("../src/cloud/regions");
    const { findTemplate, parseTemplateSpec, renderTemplate, templateVariables } = await import("../src/cloud/templates");
    const { packUserData, readUserDataFile, withProxy } = await import("../src/cloud/user-data");
    const { failWith, selectedRegions } = await import("./cloud-common");
    if (!/^[a-z]+-[0-9a-zA-Z]+$/.test(args.image)) throw new UsageError(`image '${args.image}': expected an image ID such as ami-0123abcd`);
    if (args.template && args["user-data"]) throw new UsageError("--template and --user-data exclude each other");
    const spec = args.template ? parseTemplateSpec(args.template) : undefined;
    const count = args.count ? positiveInteger(args.count, "count") : spec?.count ?? 1;
    const minCount = args.min ? positiveInteger(args.min, "min") : undefined;
    if (minCount && minCount > count) throw new UsageError(`--min ${minCount} is more than the ${count} instances asked for`);
    const regions = await selectedRegions(args, rawArgs);
    if (args.context !== undefined && args.context !== "imds" && args.context !== "disk") throw new UsageError(`--context '${args.context}': expected imds or disk`);
    if (args.context !== undefined && regions.some((r) => !r.local)) throw new UsageError("--context is for the local region (--region local)");

    // user_data per region (a template sees the region's own variables), all of it checked before any call
    const set = Object.fromEntries(keyValues(rawArgs, "set"));
    const template = spec ? findTemplate(spec.name) : undefined;
    const file = args["user-data"] ? readUserDataFile(args["user-data"]) : "";
    let texts = regions.map((r) => (template ? renderTemplate(template, templateVariables(r, set), { name: r.name, file: regionsFile() }) : file));
    if (args.proxy) {
      const { proxyForLaunch } = await import("../src/cloud/proxy");
      const pem = await proxyForLaunch({ valid: args["proxy-valid"] ?? "12:00", limited: !!args.limited });
      texts = texts.map((t) => withProxy(t, pem));
    }
    const packed = texts.map(packUserData);
    const targets = regions.map((region, i) => ({ region, userData: packed[i].bytes }));
    const request = { image: args.image, count, minCount, instanceType: args.type, group: args.group, key: args.key, kernel: args.kernel, tags: keyValues(rawArgs, "tag"), clientToken: args["client-token"], context: args.context as "imds" | "disk" | undefined };

    if (args["dry-run"]) {
      const { runInput } = await import("../src/cloud/launch");
      const { printJson } = await import("../src/cli/output");
      printJson(targets.map(({ region, userData }, i) => ({ region: region.name, endpoint: region.endpoint ?? `EC2 ${region.signingRegion}`, onePerCall: region.onePerCall,
        request: { ...runInput(region, request, userData, region.onePerCall ? 1 : count, request.clientToken ?? "<generated>"), UserData: packed[i].gzipped ? `<${userData.length} bytes gzipped>` : undefined } })));
      regions.forEach((r, i) => process.stdout.write(`--- user_data for ${r.name} (${packed[i].bytes.length} bytes${packed[i].gzipped ? ", gzipped" : ""}) ---\n${texts[i]}`));
      return;
    }
    const { launch, waitRunning } = await import("../src/cloud/launch");
    const result = await launch(targets, request);
    let instances = result.instances;
    const failures = [...result.failures];
    if (args.wait && instances.length) {
      const { Progress } = await import("../src/cli/progress");
      const progress = new Progress("starting", instances.length);
      const waited = await waitRunning(regions, instances, { intervalMs: Number(process.env.CVM_POLL_MS) || 3000, timeoutMs: WAIT_TIMEOUT_MS, onProgress: (n, total) => progress.update(n, "running", total) });
      progress.done();
      instances = waited.instances;
      failures.push(...waited.failures);
    }
    const many = regions.length > 1;
    if (args.json) (await import("../src/cli/output")).printJson({ clientToken: result.clientToken, instances, failures });
    else {
      const { printTable } = await import("../src/cli/output");
      printTable([...(many ? ["REGION"] : []), "RESERVATION", "OWNER", "GROUP", "INSTANCE", "AMI", "DNS", "STATE", "KEY", "INDEX", "TYPE"],
        instances.map((i) => [...(many ? [i.region] : []), i.reservation, i.owner, i.group, i.id, i.image, i.dns, i.state, i.key, String(i.index), i.type]), !!args.headers);
      const { log } = await import("../src/cli/log");
      log.debug(`client token: ${result.clientToken} (re-run with --client-token ${result.clientToken} to retry without starting twice)`);
    }
    // a local guest whose contextualization failed runs, but did not do its work
    const running = instances.filter((i) => i.state === "running" && !i.reason.startsWith("contextualization failed")).length;
    const summary = [
      result.failures.length ? `${result.failures.length} of ${regions.length} region(s) failed` : "",
      args.wait && instances.length ? `${instances.length - running} of ${instances.length} instance(s) not running` : "",
    ].filter(Boolean).join("; ");
    await failWith(failures, { somethingWorked: args.wait ? running > 0 : instances.length > 0, summary });
  },
});
