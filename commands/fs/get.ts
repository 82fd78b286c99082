import { defineCommand } from "citty";
import { open, repoArgs } from "./common";

export default defineCommand({
  meta: { name: "get", description: "Copy a file or subtree out (modes, mtimes, symlinks, hardlinks; owners as root)" },
  args: {
    ...repoArgs,
    path: { type: "positional", required: true, description: "Path in the repository" },
    dest: { type: "positional", required: true, description: "Destination, which must not exist yet" },
  },
  async run({ args, rawArgs }) {
    const repo = await open(args, rawArgs);
    try {
      const { exportTree } = await import("../../src/cvmfs/client/export");
      const s = await exportTree(repo, args.path, args.dest);
      const { log } = await import("../../src/cli/log");
      log.info(`${args.dest}: ${s.files} files (${(s.bytes / 1048576).toFixed(1)} MB), ${s.dirs} directories, ${s.symlinks} symlinks, ${s.hardlinks} hardlinks`);
    } finally {
      repo.close();
    }
  },
});
