import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "publish", description: "Stratum 0: create, publish and re-sign CernVM-FS repositories that stock clients mount" },
  subCommands: {
    init: () => import("./init").then((m) => m.default),
    sync: () => import("./sync").then((m) => m.default),
    resign: () => import("./resign").then((m) => m.default),
    gc: () => import("./gc").then((m) => m.default),
    snapshot: () => import("./snapshot").then((m) => m.default),
  },
});
