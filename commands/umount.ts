import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "umount", description: "Unmount a cvm mount; a mount whose daemon died is aborted and lazily unmounted" },
  args: { mountpoint: { type: "positional", required: true, description: "The mountpoint" } },
  async run({ args }) {
    const { unmountRepository } = await import("../src/cvmfs/client/umount");
    const { log } = await import("../src/cli/log");
    log.debug(await unmountRepository(args.mountpoint));
  },
});
