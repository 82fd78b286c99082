import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "template", description: "user_data templates: ls, show NAME, render NAME [--set K=V]" },
  args: {
    action: { type: "positional", required: true, description: "ls, show or render" },
    name: { type: "positional", required: false, description: "Template name" },
    set: { type: "string", description: "Variable for render (repeatable)", valueHint: "KEY=VALUE" },
    headers: { type: "boolean", alias: "H", description: "Header line (ls)" },
  },
  async run({ args, rawArgs }) {
    const { UsageError } = await import("../src/cli/errors");
    const { findTemplate, listTemplates, renderTemplate } = await import("../src/cloud/templates");
    if (args.action === "ls") {
      const { printTable } = await import("../src/cli/output");
      return printTable(["NAME", "DESCRIPTION", "FILE"], listTemplates().map((t) => [t.name, t.description, t.source]), !!args.headers);
    }
    if (args.action !== "show" && args.action !== "render") throw new UsageError(`'${args.action}': expected ls, show or render`);
    if (!args.name) throw new UsageError(`template ${args.action} needs a template name`);
    const t = findTemplate(args.name);
    if (args.action === "show") return void process.stdout.write(t.text);
    const { keyValues } = await import("../src/cli/args");
    const vars = Object.fromEntries(keyValues(rawArgs, "set"));
    process.stdout.write(renderTemplate(t, vars));
  },
});
