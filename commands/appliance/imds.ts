import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "imds", description: "The metadata service of a local-region guest, one HTTP connection on stdin/stdout (run by qemu; not for people)" },
  args: {
    dir: { type: "positional", required: true, description: "The guest's instance directory" },
  },
  async run({ args }) {
    const { serveConnection } = await import("../../src/cloud/local/imds");
    await serveConnection(args.dir);
  },
});
