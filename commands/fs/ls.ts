import { defineCommand } from "citty";
import { open, repoArgs } from "./common";

export default defineCommand({
  meta: { name: "ls", description: "List a directory" },
  args: {
    ...repoArgs,
    path: { type: "positional", required: false, description: "Directory in the repository [/]" },
    long: { type: "boolean", alias: "l", description: "Tab-separated MODE LINKS UID GID SIZE MTIME NAME" },
    headers: { type: "boolean", alias: "H", description: "Header line (with -l)" },
    json: { type: "boolean", description: "Full entries as JSON" },
  },
  async run({ args, rawArgs }) {
    const repo = await open(args, rawArgs);
    try {
      const entries = await repo.list(args.path ?? "/");
      const { describeDirent, modeString } = await import("../../src/cvmfs/client/describe");
      if (args.json) return (await import("../../src/cli/output")).printJson(entries.map((e) => describeDirent(e)));
      const { escapeName, printTable } = await import("../../src/cli/output");
      if (!args.long) return void process.stdout.write(entries.map((e) => escapeName(e.name) + "\n").join(""));
      printTable(["MODE", "LINKS", "UID", "GID", "SIZE", "MTIME", "NAME"], entries.map((e) => [
        modeString(e.mode), String(e.linkcount), String(e.uid), String(e.gid), String(e.size),
        new Date(e.mtime * 1000).toISOString(), e.kind === "symlink" ? `${escapeName(e.name)} -> ${escapeName(e.symlink ?? "")}` : escapeName(e.name),
      ]), !!args.headers);
    } finally {
      repo.close();
    }
  },
});
