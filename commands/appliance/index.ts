import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "appliance", description: "A minimal bootable image with cvm as its boot brain: build (initrd, raw disk, ISO, tree), boot (inside the guest)" },
  subCommands: {
    build: () => import("./build").then((m) => m.default),
    boot: () => import("./boot").then((m) => m.default),
    register: () => import("./register").then((m) => m.default),
    imds: () => import("./imds").then((m) => m.default),
  },
});
