import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "console", description: "Print a local-region guest's console log (what its serial console said, from power-on)" },
  args: {
    id: { type: "positional", required: true, description: "Instance ID (i-…)" },
  },
  async run({ args }) {
    const { consoleText } = await import("../src/cloud/local/console");
    process.stdout.write(consoleText(args.id));
  },
});
