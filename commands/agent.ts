import { defineCommand } from "citty";

const ACTIONS = ["run", "validate", "status", "install"] as const;

/** Which options each action takes (the rest are usage errors there). */
const OPTIONS_OF: Record<(typeof ACTIONS)[number], string[]> = {
  run: ["root", "user-data", "base64", "context", "metadata-url", "metadata-timeout", "instance-id", "dry-run", "force", "command-wait", "script-timeout", "follow"],
  validate: ["root", "base64", "json"],
  status: ["root", "json"],
  install: ["root", "exec"],
};

export default defineCommand({
  meta: { name: "agent", description: "Boot-time contextualization from user_data ([cernvm] INI, amiconfig-compatible): run (default), validate FILE, status, install" },
  args: {
    action: { type: "positional", required: false, description: "run (default), validate, status or install" },
    file: { type: "positional", required: false, description: "validate: the user_data file (- for stdin)" },
    root: { type: "string", description: "Apply to the system under this directory [/]", valueHint: "dir" },
    "user-data": { type: "string", description: "Take user_data from this file (- for stdin) instead of the context disk or metadata service", valueHint: "file" },
    base64: { type: "boolean", description: "The --user-data (or validate FILE) is base64" },
    context: { type: "string", description: "A context directory (OpenNebula context.sh, NoCloud, OpenStack config drive)", valueHint: "dir" },
    "metadata-url": { type: "string", description: "The instance metadata service [http://169.254.169.254 when --root is /]", valueHint: "url" },
    "metadata-timeout": { type: "string", description: "Seconds the metadata service has to answer at all [1]", valueHint: "s" },
    "instance-id": { type: "string", description: "Instance id for run-once (default: the metadata's, else a hash of the user_data)", valueHint: "id" },
    "dry-run": { type: "boolean", description: "Print the plan (files with diffs, users, services, commands); change nothing" },
    force: { type: "boolean", description: "Run again for an instance that ran already" },
    "command-wait": { type: "string", description: "Seconds to wait for contextualization commands before leaving them running [2]", valueHint: "s" },
    follow: { type: "boolean", description: "Stay until the contextualization commands end, echoing their output on stderr as [program] LINE, and say how each ended" },
    "script-timeout": { type: "string", description: "Seconds a user_data script may run [600]", valueHint: "s" },
    json: { type: "boolean", description: "status, validate: JSON output" },
    exec: { type: "string", description: "install: the cvm binary the unit runs [this one]", valueHint: "path" },
  },
  async run({ args, rawArgs }) {
    const { UsageError, SilentExit } = await import("../src/cli/errors");
    const action = (args.action ?? "run") as (typeof ACTIONS)[number];
    if (!ACTIONS.includes(action)) throw new UsageError(`'${args.action}': expected run, validate, status or install`);
    const given = rawArgs.filter((t) => t.startsWith("--")).map((t) => t.slice(2).split("=")[0].replace(/^no-/, ""));
    const stray = given.find((g) => g in OPTIONS_OF_ALL && !OPTIONS_OF[action].includes(g));
    if (stray) throw new UsageError(`--${stray} does not go with 'agent ${action}'`);
    if (action !== "validate" && args.file !== undefined) throw new UsageError(`unexpected argument '${args.file}'`);
    const root = args.root ?? "/";
    const seconds = (name: string, value: string | undefined, fallback: number, max: number) => {
      if (value === undefined) return fallback * 1000;
      if (!/^\d+(\.\d+)?$/.test(value) || Number(value) > max) throw new UsageError(`--${name} '${value}': expected seconds from 0 to ${max}`);
      return Math.round(Number(value) * 1000);
    };

    if (action === "run") {
      const { runAgent } = await import("../src/agent/run");
      const code = await runAgent({
        root, dryRun: !!args["dry-run"], force: !!args.force, instanceId: args["instance-id"],
        userData: args["user-data"], base64: !!args.base64, context: args.context, metadataUrl: args["metadata-url"],
        metadataTimeoutMs: seconds("metadata-timeout", args["metadata-timeout"], 1, 60),
        commandWaitMs: seconds("command-wait", args["command-wait"], 2, 3600),
        scriptTimeoutMs: seconds("script-timeout", args["script-timeout"], 600, 86400),
        follow: !!args.follow,
      });
      if (code) throw new SilentExit(code);
      return;
    }
    if (action === "validate") {
      if (!args.file) throw new UsageError("agent validate needs a user_data file (or -)");
      const { validateFile } = await import("../src/agent/validate");
      const v = await validateFile(args.file, { root, base64: !!args.base64 });
      if (args.json) {
        const { printJson } = await import("../src/cli/output");
        printJson(v);
      } else {
        for (const w of v.warnings) process.stderr.write(`warning: ${w}\n`);
        for (const e of v.errors) process.stderr.write(`error: ${e}\n`);
        for (const n of v.notes) process.stderr.write(`note: ${n}\n`);
        if (v.valid) process.stdout.write(`valid user_data: ${args.file}${v.warnings.length ? ` (${v.warnings.length} warning${v.warnings.length > 1 ? "s" : ""})` : ""}\n`);
        else process.stderr.write(`cvm: ${args.file}: ${v.errors.length} error${v.errors.length > 1 ? "s" : ""}\n`);
      }
      if (!v.valid) throw new SilentExit(1);
      return;
    }
    if (action === "status") {
      const { RootFs } = await import("../src/agent/root");
      const { readStatus } = await import("../src/agent/state");
      const { formatStatus, statusExitCode } = await import("../src/agent/status");
      const s = readStatus(new RootFs(root));
      if (args.json) {
        const { printJson } = await import("../src/cli/output");
        printJson(s ?? { status: "not run" });
      } else process.stdout.write(formatStatus(s));
      const code = statusExitCode(s);
      if (code) throw new SilentExit(code);
      return;
    }
    const { installUnit } = await import("../src/agent/install");
    for (const line of installUnit({ root, exec: args.exec ?? process.execPath })) process.stderr.write(line + "\n");
  },
});

const OPTIONS_OF_ALL = Object.fromEntries(Object.values(OPTIONS_OF).flat().map((o) => [o, true]));
