import { defineCommand } from "citty";
import { outputArgs, regionArgs } from "./cloud-common";

export default defineCommand({
  meta: { name: "regions", description: "List the configured regions (built-in EC2 and ~/.config/cvm/regions.ini)" },
  args: {
    "aws-region": regionArgs["aws-region"],
    ...outputArgs,
  },
  async run({ args }) {
    const { loadRegions } = await import("../src/cloud/regions");
    const { printJson, printTable } = await import("../src/cli/output");
    const regions = loadRegions({ awsRegion: args["aws-region"] });
    const credentials = (r: (typeof regions)[number]) => (r.credentials.kind === "keys" ? `keys:${r.credentials.accessKeyId}` : r.credentials.profile ? `profile:${r.credentials.profile}` : "default chain");
    const pairs = (o: Record<string, string | undefined>) => Object.entries(o).map(([k, v]) => `${k}=${v}`).join(",") || "-";
    if (args.json) return printJson(regions.map((r) => ({ ...r, credentials: credentials(r) })));
    printTable(["NAME", "ENDPOINT", "SIGNATURE", "REGION", "CREDENTIALS", "DEFAULTS", "VARIABLES"], regions.map((r) => [
      r.name, r.endpoint ?? (r.local ? `(qemu here${r.local.forwards.length ? `, forward ${r.local.forwards.join(",")}` : ""})` : "(AWS)"), ...(r.local ? ["-", "-", "-"] : [`v${r.signatureVersion}`, r.signingRegion, credentials(r)]), pairs(r.defaults), pairs(r.variables),
    ]), !!args.headers);
  },
});
