import { escapeName } from "../../cli/output";
import { validHostname } from "../names";
import type { PlanContext } from "../plan";
import type { Plugin } from "./types";

/** The host name: `[hostname] hostname` (rPath's plugin), else the one the source gave (metadata, context.sh). */
export const hostname: Plugin = {
  name: "hostname",
  group: "hostname",
  keys: { hostname: { hostname: "host name for /etc/hostname (default: the metadata's local-hostname)" } },
  plan(ctx: PlanContext) {
    const s = ctx.section("hostname");
    const given = s.get("hostname");
    const name = given ?? ctx.meta.hostname;
    if (!name) return;
    if (!validHostname(name)) {
      if (given !== undefined) s.error("hostname", `'${escapeName(name.slice(0, 80))}' is not a valid host name (letters, digits, inner '-', dot-separated)`);
      else ctx.problems.warn("metadata", undefined, `host name '${escapeName(name.slice(0, 80))}' is not valid; not set`);
      return;
    }
    ctx.file("/etc/hostname", name + "\n", { mode: 0o644 });
    if (ctx.root.isHostRoot) ctx.add({ kind: "hostname", name });
  },
};
