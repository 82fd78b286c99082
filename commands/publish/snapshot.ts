import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "snapshot", description: "Stratum 1: replicate a repository from a stratum 0/1 into a storage directory (incremental, resumable)" },
  args: {
    source: { type: "positional", required: true, description: "Where to replicate from: a stratum URL (http://host/cvmfs/<fqrn>) or a storage directory" },
    fqrn: { type: "positional", required: true, description: "Repository name" },
    storage: { type: "string", required: true, description: "The replica's storage directory (created if missing)", valueHint: "dir" },
    keys: { type: "string", description: "Directory of extra master public keys (*.pub) to trust, as for cvm fs", valueHint: "dir" },
    "all-tags": { type: "boolean", description: "Also replicate every revision named in the history" },
    gc: { type: "boolean", description: "Then remove objects that neither this revision nor the previous one needs (nor, with --all-tags, a tagged one)" },
    parallel: { type: "string", description: "Downloads at once [16]", valueHint: "n" },
    json: { type: "boolean", description: "Print the result as JSON" },
  },
  async run({ args }) {
    const { snapshotRepository, DEFAULT_PARALLEL } = await import("../../src/cvmfs/publish/snapshot");
    const { validateFqrn } = await import("../../src/cvmfs/publish/config");
    const { positiveInteger } = await import("../../src/cli/args");
    const { UsageError } = await import("../../src/cli/errors");
    const { Progress } = await import("../../src/cli/progress");
    const fqrn = validateFqrn(args.fqrn);
    if (!args.storage) throw new UsageError("give the replica's storage directory with --storage DIR");
    const parallel = args.parallel === undefined ? DEFAULT_PARALLEL : positiveInteger(args.parallel, "parallel", 256);
    const started = performance.now();
    const bar = new Progress("replicating", 0);
    const mb = (n: number) => (n / 1048576).toFixed(1);
    let r;
    try {
      r = await snapshotRepository({ source: args.source, fqrn, storage: args.storage, keysDir: args.keys, allTags: args["all-tags"], gc: args.gc, parallel }, {
        progress: (s) => bar.update(s.objectsFetched, `objects fetched, ${mb(s.bytesFetched)} MB`, s.objectsFetched),
      });
    } finally {
      bar.done();
    }
    const seconds = (performance.now() - started) / 1000;
    if (args.json) {
      const { printJson } = await import("../../src/cli/output");
      printJson({ ...r, seconds });
      return;
    }
    const c = r.copy;
    const from = r.previousRevision === undefined ? "" : r.previousRevision === r.revision ? ` (already at revision ${r.revision}; whitelist and manifest refreshed)` : ` (was revision ${r.previousRevision})`;
    process.stdout.write(
      `Replicated ${fqrn} revision ${r.revision}${from} from ${r.source} into ${r.storage}\n` +
      `  ${c.objectsFetched} objects fetched (${mb(c.bytesFetched)} MB), ${c.objectsPresent} already here; ` +
      `${c.catalogsFetched} catalogs fetched, ${c.catalogsPresent} complete already` +
      `${r.taggedRevisions.length ? `; tagged revisions ${r.taggedRevisions.join(", ")}` : ""}; ${seconds.toFixed(1)} s\n`,
    );
    if (r.gc) process.stdout.write(`  gc: removed ${r.gc.removed} unreferenced files (${mb(r.gc.removedBytes)} MB), kept ${r.gc.kept} objects\n`);
  },
});
