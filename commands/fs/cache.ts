import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "cache", description: "Show a repository's local cache (usage, quota), or empty it with --clean" },
  args: {
    repo: { type: "positional", required: true, description: "Repository name" },
    clean: { type: "boolean", description: "Remove every cached object (safe while other cvm processes read)" },
    option: { type: "string", alias: "o", description: "KEY=VALUE over the files and environment (repeatable)", valueHint: "KEY=VALUE" },
    "config-root": { type: "string", description: "Instead of /etc/cvmfs (CVM_CONFIG_ROOT)", valueHint: "dir" },
    json: { type: "boolean", description: "As JSON" },
  },
  async run({ args, rawArgs }) {
    const { allValues } = await import("../../src/cli/args");
    const { expandRepositoryName, loadClientConfig, parseOverrides } = await import("../../src/cvmfs/client/config");
    const { openCache } = await import("../../src/cvmfs/client/open");
    const overrides = parseOverrides(allValues(rawArgs, ["o", "option"]));
    const fqrn = expandRepositoryName(args.repo, { root: args["config-root"], overrides });
    const cache = openCache(loadClientConfig({ fqrn, root: args["config-root"], overrides }));
    try {
      if (args.clean) {
        const n = cache.clean();
        process.stdout.write(`${cache.dir}: removed ${n} cached object${n === 1 ? "" : "s"}\n`);
        return;
      }
      const u = cache.usage();
      if (args.json) return (await import("../../src/cli/output")).printJson(u);
      const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
      process.stdout.write(`cache:    ${u.dir}\nused:     ${mb(u.bytes)} in ${u.entries} objects\ncatalogs: ${u.catalogs} (pinned while a reader uses them)\nquota:    ${u.limitBytes === null ? "unlimited" : mb(u.limitBytes)} (when full, least recently used objects go until half is free)\n`);
    } finally {
      cache.close();
    }
  },
});
