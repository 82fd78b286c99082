import { defineCommand } from "citty";
import { regionArgs } from "./cloud-common";

export default defineCommand({
  meta: { name: "template", description: "user_data templates: ls, show NAME, render NAME [--set K=V] [--region R]" },
  args: {
    action: { type: "positional", required: true, description: "ls, show or render" },
    name: { type: "positional", required: false, description: "Template name" },
    set: { type: "string", description: "Variable for render (repeatable)", valueHint: "KEY=VALUE" },
    ...regionArgs,
    headers: { type: "boolean", alias: "H", description: "Header line (ls)" },
  },
  async run({ args, rawArgs }) {
    const { UsageError } = await import("../src/cli/errors");
    const { findTemplate, listTemplates, renderTemplate, templateVariables } = await import("../src/cloud/templates");
    if (args.action === "ls") {
      const { printTable } = await import("../src/cli/output");
      return printTable(["NAME", "DESCRIPTION", "FILE"], listTemplates().map((t) => [t.name, t.description, t.source]), !!args.headers);
    }
    if (args.action !== "show" && args.action !== "render") throw new UsageError(`'${args.action}': expected ls, show or render`);
    if (!args.name) throw new UsageError(`template ${args.action} needs a template name`);
    const t = findTemplate(args.name);
    if (args.action === "show") return void process.stdout.write(t.text);
    const { allValues, keyValues } = await import("../src/cli/args");
    const set = Object.fromEntries(keyValues(rawArgs, "set"));
    // with --region: rendered as `run` would for that region (its name, defaults and variables)
    if (!allValues(rawArgs, ["region"]).length) return void process.stdout.write(renderTemplate(t, set));
    const { selectedRegions } = await import("./cloud-common");
    const { regionsFile } = await import("../src/cloud/regions");
    const regions = await selectedRegions(args, rawArgs);
    if (regions.length !== 1) throw new UsageError("template render takes one --region");
    process.stdout.write(renderTemplate(t, templateVariables(regions[0], set), { name: regions[0].name, file: regionsFile() }));
  },
});
