import { systemNics } from "../network/index";
import { checkNetwork, pushUnique } from "../network/model";
import { IFUPDOWN_FILE, renderIfupdown } from "../network/render-ifupdown";
import { resolvConf } from "../network/render-ip";
import { NETWORKD_DIR, renderNetworkd } from "../network/render-networkd";
import type { PlanContext } from "../plan";
import type { RootFs } from "../root";
import type { Plugin } from "./types";

const NETWORKD_ENABLED = ["/etc/systemd/system/multi-user.target.wants/systemd-networkd.service", "/etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service"];

/** ifupdown when the root has /etc/network/interfaces and systemd-networkd is not enabled; else networkd. */
function usesIfupdown(root: RootFs): boolean {
  return !!root.lstat("/etc/network/interfaces", "follow")?.isFile() && !NETWORKD_ENABLED.some((p) => root.lstat(p, "keep"));
}

/**
 * The network configuration of the context (OpenNebula ETH<n>_*, OpenStack
 * network_data.json, NoCloud network-config) as the system's: networkd
 * `.network` files, or an ifupdown stanza file; /etc/resolv.conf when the
 * context names servers and the file is the system's own (not a link to a
 * resolver's). On the real root the interfaces are checked against the
 * system's: a MAC given to a name it does not have is refused.
 */
export const network: Plugin = {
  name: "network",
  group: "network",
  keys: {},
  plan(ctx: PlanContext) {
    const cfg = ctx.meta.network;
    if (!cfg) return;
    const nics = ctx.root.isHostRoot ? systemNics() : undefined;
    checkNetwork(cfg, nics);
    ctx.add({ kind: "note", text: `${cfg.interfaces.length} interface${cfg.interfaces.length === 1 ? "" : "s"} from ${cfg.from}; read by the network service when it next starts (networkctl reload, ifup, or the next boot)` });
    if (usesIfupdown(ctx.root)) {
      const { content, skipped } = renderIfupdown(cfg, nics);
      for (const i of skipped) ctx.problems.warn(cfg.from, undefined, `${i.label} (MAC ${i.mac}): not on this system, and ifupdown needs a name; left out of ${IFUPDOWN_FILE}`);
      const main = ctx.root.readText("/etc/network/interfaces") ?? "";
      if (!/^\s*(source\s+\/etc\/network\/interfaces\.d\/|source-directory\s+(\/etc\/network\/)?interfaces\.d)/m.test(main))
        ctx.problems.warn(cfg.from, undefined, `/etc/network/interfaces does not source interfaces.d; ${IFUPDOWN_FILE} is not read until it does`);
      ctx.dirs("/etc/network/interfaces.d");
      ctx.file(IFUPDOWN_FILE, content, { mode: 0o644 });
    } else {
      ctx.dirs(NETWORKD_DIR);
      for (const f of renderNetworkd(cfg)) ctx.file(f.path, f.content, { mode: 0o644 });
    }
    const dns: string[] = [], search: string[] = [];
    for (const i of cfg.interfaces) { pushUnique(dns, ...i.dns); pushUnique(search, ...i.search); }
    pushUnique(dns, ...cfg.dns);
    pushUnique(search, ...cfg.search);
    const resolv = resolvConf(dns, search);
    if (resolv && !ctx.root.lstat("/etc/resolv.conf", "keep")?.isSymbolicLink()) ctx.file("/etc/resolv.conf", resolv, { mode: 0o644 });
  },
};
