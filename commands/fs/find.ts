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
    print0: { type: "boolean", description: "Paths as they are, each ended by a NUL byte (for xargs -0)" },
    json: { type: "boolean", description: "Paths as a JSON array" },
  },
  async run({ args, rawArgs }) {
    const kinds: Record<string, string> = { f: "file", d: "dir", l: "symlink" };
    if (args.print0 && args.json) throw new UsageError("--print0 and --json exclude each other");
    if (args.type !== undefined && !kinds[args.type]) throw new UsageError(`--type '${args.type}': expected f, d or l`);
    const repo = await open(args, rawArgs);
    try {
      const { globToRegExp } = await import("../../src/cvmfs/client/glob");
      const name = args.name !== undefined ? globToRegExp(args.name) : undefined;
      const kind = args.type !== undefined ? kinds[args.type] : undefined;
      const { escapeName } = await import("../../src/cli/output");
      // Terminal lines are escaped; -print0 and --json keep names byte for byte for scripts.
      const format = args.print0 ? (p: string) => p + "\0" : args.json ? (p: string, first: boolean) => (first ? "[\n  " : ",\n  ") + JSON.stringify(p) : (p: string) => escapeName(p) + "\n";
      let out = "", first = true;
      for await (const d of repo.walk(args.path ?? "/")) {
        if ((kind && d.kind !== kind) || (name && !name.test(d.name))) continue;
        out += format(d.path || "/", first);
        first = false;
        if (out.length > 65536) { process.stdout.write(out); out = ""; }
      }
      if (args.json) out += first ? "[]\n" : "\n]\n";
      process.stdout.write(out);
    } finally {
      repo.close();
    }
  },
});
