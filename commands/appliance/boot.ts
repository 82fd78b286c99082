import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "boot", description: "Inside an appliance, run by its init: network, agent, repositories, the contextualization command (not for a host)" },
  args: {
    stage: { type: "string", description: "root: only mount the OS repository on /newroot (the initramfs, before switch_root) [system]", valueHint: "stage" },
  },
  async run({ args }) {
    const { UsageError, SilentExit } = await import("../../src/cli/errors");
    if (args.stage !== undefined && args.stage !== "root" && args.stage !== "system") throw new UsageError(`--stage '${args.stage}': expected root or system`);
    const { bootAppliance } = await import("../../src/appliance/boot/boot");
    const code = await bootAppliance({ stage: args.stage === "root" ? "root" : "system" });
    if (code) throw new SilentExit(code);
  },
});
