import { defineCommand } from "citty";
import type { CvmCommand } from "../../src/cli/run";

const command: CvmCommand = defineCommand({
  meta: { name: "talk", description: "Ask a mount's daemon: revision, remount, host, proxy, cache, cleanup MB, pid, passthrough, requests (like cvmfs_talk)" },
  args: {
    mountpoint: { type: "positional", required: true, description: "The mountpoint" },
    command: { type: "positional", required: true, description: "The command (help lists them)" },
  },
  async run({ rawArgs, args }) {
    const { resolve } = await import("node:path");
    const { readRecord, isAlive } = await import("../../src/cvmfs/client/mount-state");
    const { talk } = await import("../../src/cvmfs/client/talk");
    const { CvmError } = await import("../../src/cli/errors");
    const mountpoint = resolve(args.mountpoint);
    const record = readRecord(mountpoint);
    if (!record) throw new CvmError(`${mountpoint}: no cvm mount here`);
    if (!isAlive(record.pid)) throw new CvmError(`${mountpoint}: the mount daemon (pid ${record.pid}) is gone; cvm umount ${mountpoint} cleans up`);
    const words = rawArgs.filter((a) => !a.startsWith("-"));
    const command = words.slice(words.indexOf(args.mountpoint) + 1).join(" ");
    const answer = await talk(record.socket, command);
    if (answer.startsWith("error: ")) throw new CvmError(answer.slice(7).trim());
    process.stdout.write(answer);
  },
});
command.variadic = true; // the command's words: `cvm fs talk /cvmfs/x cleanup 100`
export default command;
