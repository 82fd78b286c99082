import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "regions", description: "List the configured regions (built-in EC2 and ~/.config/cvm/regions.ini)" },
  args: {
    "aws-region": { type: "string", description: "AWS region of the built-in EC2 region" },
    headers: { type: "boolean", alias: "H", description: "Header line" },
    json: { type: "boolean", description: "As JSON (secret keys are never printed)" },
  },
  async run({ args }) {
    const { loadRegions } = await import("../src/cloud/regions");
    const { printJson, printTable } = await import("../src/cli/output");
    const regions = loadRegions({ awsRegion: args["aws-region"] });
    const credentials = (r: (typeof regions)[number]) => (r.credentials.kind === "keys" ? `keys:${r.credentials.accessKeyId}` : r.credentials.profile ? `profile:${r.credentials.profile}` : "default chain");
    if (args.json) return printJson(regions.map((r) => ({ ...r, credentials: credentials(r) })));
    printTable(["NAME", "ENDPOINT", "SIGNATURE", "REGION", "CREDENTIALS", "DEFAULTS"], regions.map((r) => [
      r.name, r.endpoint ?? "(AWS)", `v${r.signatureVersion}`, r.signingRegion, credentials(r),
      Object.entries(r.defaults).map(([k, v]) => `${k}=${v}`).join(",") || "-",
    ]), !!args.headers);
  },
});
