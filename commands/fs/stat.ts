import { defineCommand } from "citty";
import { open, repoArgs } from "./common";

export default defineCommand({
  meta: { name: "stat", description: "Show one entry's metadata (and chunks, xattrs)" },
  args: { ...repoArgs, path: { type: "positional", required: false, description: "Path in the repository [/]" }, json: { type: "boolean", description: "As JSON" } },
  async run({ args, rawArgs }) {
    const repo = await open(args, rawArgs);
    try {
      const d = await repo.stat(args.path ?? "/");
      const { describeDirent } = await import("../../src/cvmfs/client/describe");
      const info = describeDirent(d, d.chunked ? await repo.chunks(d) : undefined);
      if (args.json) return (await import("../../src/cli/output")).printJson(info);
      const { escapeName } = await import("../../src/cli/output");
      const { chunks, ...fields } = info;
      for (const [k, v] of Object.entries(fields))
        if (v !== undefined) process.stdout.write(`${k.padEnd(13)} ${typeof v === "object" ? JSON.stringify(v) : typeof v === "string" ? escapeName(v) : v}\n`);
      for (const c of chunks ?? []) process.stdout.write(`${"chunk".padEnd(13)} ${c.offset} +${c.size} ${c.hash}\n`);
    } finally {
      repo.close();
    }
  },
});
