import { defineCommand } from "citty";
import { configArgs, configOverrides } from "./common";

export default defineCommand({
  meta: { name: "config", description: "Show the effective client configuration of a repository and where each value comes from" },
  args: {
    repo: { type: "positional", required: true, description: "Repository name (atlas.cern.ch, or atlas with CVMFS_DEFAULT_DOMAIN)" },
    ...configArgs,
    json: { type: "boolean", description: "As JSON" },
  },
  async run({ args, rawArgs }) {
    const { describeConfig } = await import("../../src/cvmfs/client/describe-config");
    const d = describeConfig({ name: args.repo, configRoot: args["config-root"], overrides: await configOverrides(rawArgs) });
    const { escapeName, printJson } = await import("../../src/cli/output");
    if (args.json) printJson(d);
    else {
      const width = Math.min(48, Math.max(...d.settings.map((s) => s.key.length + s.value.length + 1), 0));
      const lines = d.settings.map((s) => `${`${s.key}=${escapeName(s.value)}`.padEnd(width)}    # ${s.source}`);
      process.stdout.write(`# ${d.fqrn}, from ${d.files.length ? d.files.join(", ") : "no configuration file"}\n${lines.join("\n")}\n`);
    }
    const { log } = await import("../../src/cli/log");
    for (const w of d.warnings) log.warn(w);
    if (d.problems.length) {
      const { CvmError } = await import("../../src/cli/errors");
      for (const p of d.problems.slice(0, -1)) process.stderr.write(`cvm: ${p}\n`);
      throw new CvmError(d.problems[d.problems.length - 1]);
    }
  },
});
