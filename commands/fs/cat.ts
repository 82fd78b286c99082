import { defineCommand } from "citty";
import { open, repoArgs } from "./common";

export default defineCommand({
  meta: { name: "cat", description: "Write a file's content to stdout (verified chunk by chunk)" },
  args: { ...repoArgs, path: { type: "positional", required: true, description: "File in the repository" } },
  async run({ args, rawArgs }) {
    const repo = await open(args, rawArgs);
    try {
      const d = await repo.stat(args.path);
      const { writeSync } = await import("node:fs");
      for await (const piece of repo.content(d)) {
        for (let off = 0; off < piece.length; ) off += writeSync(1, piece, off);
      }
    } finally {
      repo.close();
    }
  },
});
