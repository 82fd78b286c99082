import { defineCommand } from "citty";
import { configArgs, configOverrides } from "./common";

export default defineCommand({
  meta: { name: "cache", description: "Show a repository's local cache (usage, quota), or empty it with --clean" },
  args: {
    repo: { type: "positional", required: true, description: "Repository name" },
    clean: { type: "boolean", description: "Remove every cached object (safe while other cvm processes read)" },
    ...configArgs,
    json: { type: "boolean", description: "As JSON" },
  },
  async run({ args, rawArgs }) {
    const { expandRepositoryName, loadClientConfig } = await import("../../src/cvmfs/client/config");
    const { openCache } = await import("../../src/cvmfs/client/open");
    const overrides = await configOverrides(rawArgs);
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
