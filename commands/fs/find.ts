import { defineCommand } from "citty";
import { UsageError } from "../../src/cli/errors";
import { open, repoArgs } from "./common";

export default defineCommand({
  meta: { name: "find", description: "List every path below a directory, across nested catalogs" },
  args: {
    ...repoArgs,
    path: { type: "positional", required: false, description: "Where to start [/]" },
    name: { type: "string", description: "Only names matching this glob (*, ?, [...])", valueHint: "glob" },
    type: { type: "string", description: "Only this kind: f (file), d (directory), l (symlink)" },
  },
  async run({ args }) {
    const kinds: Record<string, string> = { f: "file", d: "dir", l: "symlink" };
    if (args.type !== undefined && !kinds[args.type]) throw new UsageError(`--type '${args.type}': expected f, d or l`);
    const repo = await open(args);
    try {
      const { globToRegExp } = await import("../../src/cvmfs/glob");
      const name = args.name !== undefined ? globToRegExp(args.name) : undefined;
      const kind = args.type !== undefined ? kinds[args.type] : undefined;
      let out = "";
      for await (const d of repo.walk(args.path ?? "/")) {
        if ((kind && d.kind !== kind) || (name && !name.test(d.name))) continue;
        out += (d.path || "/") + "\n";
        if (out.length > 65536) { process.stdout.write(out); out = ""; }
      }
      process.stdout.write(out);
    } finally {
      repo.close();
    }
  },
});
