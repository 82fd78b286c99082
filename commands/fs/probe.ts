import { defineCommand } from "citty";
import { configArgs, configOverrides } from "./common";

export default defineCommand({
  meta: { name: "probe", description: "Ask every server, through every proxy, whether it answers, how fast, and which revision it serves" },
  args: {
    repo: { type: "positional", required: true, description: "Repository name" },
    ...configArgs,
    "order-by-rtt": { type: "boolean", description: "Also print the CVMFS_SERVER_URL that ordering by measured RTT would give" },
    headers: { type: "boolean", alias: "H", description: "Header line" },
    json: { type: "boolean", description: "As JSON" },
  },
  async run({ args, rawArgs }) {
    const { probe, orderByRtt } = await import("../../src/cvmfs/client/probe");
    const { fqrn, results } = await probe({ name: args.repo, configRoot: args["config-root"], overrides: await configOverrides(rawArgs) });
    const ordered = orderByRtt(results);
    const { printJson, printTable } = await import("../../src/cli/output");
    if (args.json) printJson({ fqrn, results, ...(args["order-by-rtt"] ? { orderByRtt: ordered } : {}) });
    else {
      printTable(["HOST", "PROXY", "STATUS", "RTT_MS", "REVISION", "PUBLISHED", "SNAPSHOT"], results.map((r) => [
        r.host, r.proxy, r.ok ? "OK" : `FAILED: ${r.error}`, r.rttMs?.toString() ?? "-", r.revision?.toString() ?? "-", r.published ?? "-", r.snapshot ?? "-",
      ]), !!args.headers);
      if (args["order-by-rtt"]) process.stdout.write(`CVMFS_SERVER_URL="${ordered.join(";")}"\n`);
    }
    if (!results.some((r) => r.ok)) {
      const { CvmError } = await import("../../src/cli/errors");
      throw new CvmError(`${fqrn}: no server answered through any proxy`);
    }
  },
});
