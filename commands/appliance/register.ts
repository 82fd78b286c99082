import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "register", description: "Copy an appliance (cvm appliance build -o DIR) into the local region's images; prints its ami-… id" },
  args: {
    dir: { type: "positional", required: true, description: "The directory cvm appliance build wrote" },
    name: { type: "string", description: "A name for the image [the directory's name]" },
  },
  async run({ args }) {
    const { registerImage } = await import("../../src/cloud/local/store");
    const image = registerImage(args.dir, args.name);
    process.stdout.write(`${image.id}\t${image.name}\t${image.format}\t${image.dir}\n`);
  },
});
