import { escapeName } from "../../cli/output";
import { splitList } from "../ini";
import { UNIT_NAME, unitName } from "../names";
import type { PlanContext } from "../plan";
import { findUnit, planEnableLinks, systemdRunning } from "../systemd";
import type { Plugin } from "./types";

export const SERVICES_RECORD = "/var/lib/cvm/agent/services";

/**
 * `services = sshd,docker`: enabled and started through systemd
 * (`systemctl enable --now --no-block`, so a unit ordered after the agent
 * cannot deadlock it) when the root is / and systemd runs it; otherwise
 * enabled as systemctl would (the [Install] links under the root) and listed
 * in /var/lib/cvm/agent/services for whoever starts the guest.
 */
export const services: Plugin = {
  name: "services",
  group: "cernvm",
  keys: { cernvm: { services: "systemd units to enable and start (sshd → sshd.service)" } },
  plan(ctx: PlanContext) {
    const s = ctx.section("cernvm");
    const units: string[] = [];
    for (const name of splitList(s.get("services") ?? "")) {
      if (!UNIT_NAME.test(name)) { s.error("services", `'${escapeName(name.slice(0, 60))}' is not a valid unit name`); continue; }
      const unit = unitName(name);
      if (!units.includes(unit)) units.push(unit);
    }
    if (!units.length) return;
    if (systemdRunning(ctx.root.isHostRoot)) {
      for (const unit of units) ctx.add({ kind: "service", unit, found: findUnit(ctx, unit) });
      return;
    }
    for (const unit of units) {
      const path = findUnit(ctx, unit);
      if (!path) s.warn("services", `${unit}: no unit file under the root; recorded only`);
      else if (!planEnableLinks(ctx, unit, path)) s.warn("services", `${unit}: its unit file has no [Install] section; recorded only`);
    }
    const before = ctx.root.readText(SERVICES_RECORD, 1 << 20);
    const have = (before ?? "").split("\n").filter(Boolean);
    const all = [...have, ...units.filter((u) => !have.includes(u))];
    ctx.dirs("/var/lib/cvm/agent", 0o700);
    ctx.file(SERVICES_RECORD, all.join("\n") + "\n", { mode: 0o644 });
  },
};
