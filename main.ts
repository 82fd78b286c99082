import type { CvmCommand } from "./src/cli/run";
import { version } from "./package.json";

// `cvm --version` alone is answered before anything else loads (citty, the
// logger, the command tree): start-up is all of its run. console.log, not
// process.stdout, whose first use loads Node's stream machinery.
if (process.argv.length === 3 && process.argv[2] === "--version" && !process.argv0.endsWith("mount.cvmfs") && process.env.CVM_AGENT_EXEC_AS === undefined) {
  console.log(version);
  process.exit(0);
}

// Subcommands load lazily: `cvm --version` and `cvm <cmd> --help` stay fast.
const main: CvmCommand = {
  meta: { name: "cvm", version, description: "The CernVM toolchain in one binary: grid proxies, CernVM-FS publishing and reading (servers, proxies, cache), cloud fleets, the boot agent" },
  args: {
    verbose: { type: "boolean", alias: "v", description: "Say more about what is being done (any command)" },
    debug: { type: "boolean", description: "Show everything, and stack traces on errors (any command)" },
    version: { type: "boolean", description: "Print the version" },
    region: { type: "string", description: "Cloud region for cloud commands (repeatable)", valueHint: "name" },
    "aws-region": { type: "string", description: "AWS region of the built-in EC2 region" },
  },
  subCommands: {
    proxy: () => import("./commands/proxy/index").then((m) => m.default),
    publish: () => import("./commands/publish/index").then((m) => m.default),
    fs: () => import("./commands/fs/index").then((m) => m.default),
    serve: () => import("./commands/serve").then((m) => m.default),
    ls: () => import("./commands/ls").then((m) => m.default),
    regions: () => import("./commands/regions").then((m) => m.default),
    run: () => import("./commands/run").then((m) => m.default),
    terminate: () => import("./commands/terminate").then((m) => m.default),
    console: () => import("./commands/console").then((m) => m.default),
    template: () => import("./commands/template").then((m) => m.default),
    agent: () => import("./commands/agent").then((m) => m.default),
    mount: () => import("./commands/mount").then((m) => m.default),
    umount: () => import("./commands/umount").then((m) => m.default),
    demo: () => import("./commands/demo").then((m) => m.default),
    appliance: () => import("./commands/appliance/index").then((m) => m.default),
  },
};

// `cvm agent` runs user_data programs through this binary: with CVM_AGENT_EXEC_AS set it enters the root,
// becomes the user and execs the program (src/agent/exec-as.ts). Internal: no command, no help, no options.
if (process.env.CVM_AGENT_EXEC_AS !== undefined) (await import("./src/agent/exec-as")).execAsChild(process.env.CVM_AGENT_EXEC_AS);

// As /sbin/mount.cvmfs (mount -t cvmfs, fstab, autofs) the arguments are mount(8)'s.
let argv = process.argv.slice(2);
if (process.argv0.endsWith("mount.cvmfs")) {
  const { mountHelperArgs } = await import("./src/cvmfs/client/mount-helper");
  const helper = mountHelperArgs(process.argv0, argv);
  if (helper === "fake") process.exit(0);
  if (helper) argv = helper;
}
const { runCli } = await import("./src/cli/run");
process.exitCode = await runCli(main, argv, version);
