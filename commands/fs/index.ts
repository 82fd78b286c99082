import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "fs", description: "Read CernVM-FS repositories without mounting them, verifying everything" },
  subCommands: {
    ls: () => import("./ls").then((m) => m.default),
    stat: () => import("./stat").then((m) => m.default),
    cat: () => import("./cat").then((m) => m.default),
    get: () => import("./get").then((m) => m.default),
    find: () => import("./find").then((m) => m.default),
    verify: () => import("./verify").then((m) => m.default),
    info: () => import("./info").then((m) => m.default),
    config: () => import("./config").then((m) => m.default),
    probe: () => import("./probe").then((m) => m.default),
    cache: () => import("./cache").then((m) => m.default),
    talk: () => import("./talk").then((m) => m.default),
  },
});
