import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "mount", description: "Mount a CernVM-FS repository read-only with FUSE (returns once it answers; -f stays in the foreground)" },
  args: {
    repo: { type: "positional", required: true, description: "Repository name (atlas.cern.ch, or atlas with CVMFS_DEFAULT_DOMAIN)" },
    mountpoint: { type: "positional", required: true, description: "An existing, empty directory" },
    option: { type: "string", alias: "o", description: "CVMFS_KEY=VALUE over the configuration, or mount(8) options (ro, nodev, allow_other…); repeatable, comma-separated", valueHint: "opts" },
    "config-root": { type: "string", description: "Read the configuration from DIR instead of /etc/cvmfs (CVM_CONFIG_ROOT)", valueHint: "dir" },
    keys: { type: "string", description: "Directory of extra master public keys (*.pub) to trust", valueHint: "dir" },
    foreground: { type: "boolean", alias: "f", description: "Stay in the foreground, logging on stderr" },
    passthrough: { type: "boolean", default: true, description: "Let the kernel read cached files directly (FUSE passthrough); --no-passthrough turns it off" },
    "ready-fd": { type: "string", description: "(internal) tell the starting process on this descriptor" },
  },
  async run({ args, rawArgs }) {
    const { allValues } = await import("../src/cli/args");
    const { mountOptions } = await import("../src/cvmfs/client/mount-options");
    const { version } = await import("../package.json");
    const o = mountOptions(allValues(rawArgs, ["o", "option"]));
    const request = {
      name: args.repo, mountpoint: args.mountpoint, configRoot: args["config-root"], overrides: o.overrides, keys: args.keys,
      version, allowOther: o.allowOther, passthrough: args.passthrough !== false,
    };
    const { log } = await import("../src/cli/log");
    for (const ignored of o.ignored) log.debug(`mount option '${ignored}' has no meaning for a read-only CernVM-FS mount; ignored`);
    if (!args.foreground) {
      const { startDaemon } = await import("../src/cvmfs/client/daemon");
      const { prepareMountpoint } = await import("../src/cvmfs/client/mount");
      await prepareMountpoint(args.mountpoint); // bad input is refused here, before anything starts
      const pid = await startDaemon(["mount", ...rawArgs], args.mountpoint);
      log.debug(`${args.repo} mounted on ${args.mountpoint} (daemon pid ${pid})`);
      return;
    }
    const { startMount } = await import("../src/cvmfs/client/mount");
    const { tellParent } = await import("../src/cvmfs/client/daemon");
    const readyFd = args["ready-fd"] !== undefined ? Number(args["ready-fd"]) : undefined;
    let running;
    try {
      running = await startMount(request);
    } catch (err) {
      if (readyFd !== undefined) tellParent(readyFd, `cvm: ${(err as Error).message}`);
      throw err;
    }
    log.info(`${running.fs.repository.fqrn} revision ${running.fs.revision} mounted on ${running.handle.mountpoint}${running.handle.passthrough ? " (passthrough)" : ""}`);
    if (readyFd !== undefined) tellParent(readyFd, "READY");
    const stop = () => void running.stop().then(() => process.exit(0));
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    process.on("SIGHUP", stop);
    await running.handle.closed.catch((err) => log.warn((err as Error).message));
    await running.stop();
  },
});
