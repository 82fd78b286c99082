import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "proxy", description: "RFC 3820 X.509 proxy certificates, interoperable with Globus grid-proxy-*" },
  subCommands: {
    init: () => import("./init").then((m) => m.default),
    info: () => import("./info").then((m) => m.default),
    destroy: () => import("./destroy").then((m) => m.default),
  },
});
