import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "sync", description: "Publish a directory tree as the next revision (only changed content is stored)" },
  args: {
    fqrn: { type: "positional", required: true, description: "Repository name" },
    source: { type: "positional", required: true, description: "Directory whose content becomes the repository" },
    storage: { type: "string", description: "Storage directory [as recorded by init]", valueHint: "dir" },
    keys: { type: "string", description: "Key directory [as recorded by init]", valueHint: "dir" },
    tag: { type: "string", description: "Name for this revision in the history [generic-<time>]" },
    xattrs: { type: "boolean", description: "Publish extended attributes (off by default, as CVMFS_INCLUDE_XATTRS)" },
    checksum: { type: "boolean", description: "Read every file again instead of trusting unchanged size and mtime" },
    json: { type: "boolean", description: "Print the result as JSON" },
  },
  async run({ args }) {
    const { readPublisherConfig, validateFqrn } = await import("../../src/cvmfs/publish/config");
    const { publishRevision } = await import("../../src/cvmfs/publish/sync");
    const { toHex } = await import("../../src/cvmfs/format/hash");
    const { existsSync, statSync } = await import("node:fs");
    const { CvmError } = await import("../../src/cli/errors");
    const { Progress } = await import("../../src/cli/progress");
    const { log } = await import("../../src/cli/log");
    const fqrn = validateFqrn(args.fqrn);
    if (!existsSync(args.source) || !statSync(args.source).isDirectory()) throw new CvmError(`${args.source}: not a directory`);
    const config = readPublisherConfig(fqrn, { storage: args.storage, keys: args.keys });
    const started = performance.now();
    let bar: InstanceType<typeof Progress> | undefined;
    const mb = (n: number) => (n / 1048576).toFixed(0);
    let r;
    try {
      r = await publishRevision({
        fqrn, source: args.source, storage: config.storage, keysDir: config.keys, algorithm: config.algorithm, ttl: config.ttl,
        tag: args.tag, xattrs: args.xattrs, checksum: args.checksum,
      }, {
        warning: (m) => log.warn(m),
        phase: (name) => {
          bar?.done();
          bar = name === "scan" ? new Progress("scanning", 0) : name === "content" ? new Progress("publishing", 0) : undefined;
        },
        scanned: (n) => bar?.update(n, "entries", n),
        content: (p) => bar?.update(p.files, `files, ${mb(Math.min(p.bytes, p.totalBytes))}/${mb(p.totalBytes)} MB`, p.totalFiles),
      });
    } finally {
      bar?.done();
    }
    const seconds = (performance.now() - started) / 1000;
    if (args.json) {
      const { printJson } = await import("../../src/cli/output");
      printJson({ ...r, rootHash: toHex(r.rootHash), seconds });
      return;
    }
    process.stdout.write(
      `Published ${fqrn} revision ${r.revision} (tag ${r.tag}), root catalog ${toHex(r.rootHash)}\n` +
      `  ${r.entries} entries; ${r.filesIngested} files read, ${r.filesReused} unchanged; ${r.newObjects} new objects (${(r.storedBytes / 1048576).toFixed(1)} MB stored); ` +
      `${r.catalogsWritten} catalogs written, ${r.catalogsReused} unchanged; ${seconds.toFixed(1)} s\n`,
    );
  },
});
