import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "gc", description: "Remove stored objects no revision refers to (left by failed or killed publishes)" },
  args: {
    fqrn: { type: "positional", required: true, description: "Repository name" },
    storage: { type: "string", description: "Storage directory [as recorded by init]", valueHint: "dir" },
    keys: { type: "string", description: "Key directory [as recorded by init]", valueHint: "dir" },
    "dry-run": { type: "boolean", description: "List what would be removed; remove nothing" },
    json: { type: "boolean", description: "Print the result as JSON" },
  },
  async run({ args }) {
    const { readPublisherConfig, validateFqrn } = await import("../../src/cvmfs/publish/config");
    const { collectGarbage } = await import("../../src/cvmfs/publish/gc");
    const fqrn = validateFqrn(args.fqrn);
    const config = readPublisherConfig(fqrn, { storage: args.storage, keys: args.keys });
    const dryRun = !!args["dry-run"];
    const r = await collectGarbage({ fqrn, storage: config.storage, keysDir: config.keys, dryRun });
    if (args.json) {
      const { printJson } = await import("../../src/cli/output");
      printJson({ ...r, dryRun });
      return;
    }
    if (dryRun) for (const path of r.removed) process.stdout.write(`${path}\n`);
    process.stdout.write(
      `${dryRun ? "Would remove" : "Removed"} ${r.removed.length} unreferenced object(s) (${(r.removedBytes / 1048576).toFixed(1)} MB) from ${config.storage}; ` +
      `kept ${r.kept} objects (${r.catalogs} catalogs) of ${r.revisions.length} tagged revision(s)\n`,
    );
  },
});
