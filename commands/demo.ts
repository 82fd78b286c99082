import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "demo", description: "The whole chain on this machine: publish, serve, replicate to a stratum 1, mount, a new revision; each step checked" },
  args: {
    dir: { type: "string", description: "Work directory [a temporary one, removed at the end]", valueHint: "dir" },
    keep: { type: "boolean", description: "Keep everything (files, mount, servers until Ctrl-C) for a look around" },
    mount: { type: "boolean", default: true, description: "Mount with FUSE where it is available; --no-mount reads with cvm fs" },
  },
  async run({ args }) {
    const { runDemo } = await import("../src/demo/demo");
    const t0 = performance.now();
    const steps = await runDemo({ dir: args.dir, keep: args.keep, mount: args.mount !== false, say: (line) => process.stdout.write(line + "\n") });
    process.stdout.write(`demo: ${steps.length} steps checked in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  },
});
