import { writeFileSync, renameSync } from "node:fs";
import { CvmError } from "../../cli/errors";
import { liveSteps, networkFromContextDir, systemNics, type NetworkConfig } from "../../agent/network/index";
import { withContextDisk } from "../../agent/sources/context-disk";
import { say, seconds } from "./console";
import { interfaces, run } from "./system";

/** The addresses an interface has (ip -o -4 addr), e.g. "10.0.2.15/24". */
function addresses(dev: string): string[] {
  return run(["ip", "-o", "-4", "addr", "show", "dev", dev], `ip addr ${dev}`).split("\n").map((l) => /inet (\S+)/.exec(l)?.[1]).filter((a): a is string => !!a);
}

/** busybox udhcpc with the image's hook; true when it got a lease. */
async function dhcp(dev: string): Promise<{ ok: boolean; note: string }> {
  run(["ip", "link", "set", dev, "up"], `ip link ${dev}`);
  const p = Bun.spawn({
    cmd: ["udhcpc", "-s", "/usr/share/udhcpc/default.script", "-i", dev, "-n", "-q", "-f", "-t", "5", "-T", "1", "-A", "1"],
    stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
  });
  const code = await p.exited;
  if (code === 0) return { ok: true, note: "DHCP" };
  return { ok: false, note: `no DHCP lease (${(await new Response(p.stderr).text()).trim().split("\n").pop() || `udhcpc exit ${code}`})` };
}

/**
 * The network configuration a context disk gives (OpenNebula ETH<n>_*,
 * network_data.json, network-config), null when it gives none. A hostile or
 * malformed one is said in one line and ignored: DHCP keeps the guest reachable.
 */
function contextNetwork(): NetworkConfig | null {
  const tried: string[] = [];
  try {
    return withContextDisk((dir) => {
      const r = networkFromContextDir(dir, systemNics());
      for (const w of r.warnings) say(`network: ${w}`);
      return r.network;
    }, () => {}, tried);
  } catch (err) {
    if (!(err instanceof CvmError)) throw err;
    say(`network: the context's configuration refused: ${err.message}; DHCP instead`);
    return null;
  } finally {
    for (const t of tried) if (!/no context files/.test(t)) say(`network: ${t}`);
  }
}

/**
 * lo up; then the context's network configuration applied live with ip(8)
 * (static addresses, routes, MTU, name servers; DHCP where it says so), or,
 * without one, DHCP on every interface at once. An interface that gets no
 * address is said; none at all is an error.
 */
export async function configureNetwork(): Promise<void> {
  run(["ip", "link", "set", "lo", "up"], "ip link lo");
  const devs = interfaces();
  if (!devs.length) throw new CvmError("no interface (is virtio_net loaded? -device virtio-net-pci under qemu)");
  const t0 = performance.now();
  const config = contextNetwork();
  let dhcpOn = devs;
  if (config?.interfaces.length) {
    const steps = liveSteps(config, systemNics());
    for (const m of steps.missing) say(`network: ${m}: no such interface here; left out`);
    for (const cmd of steps.commands) run(cmd, cmd.join(" "));
    if (steps.resolvConf !== null) {
      writeFileSync("/etc/resolv.conf.new", steps.resolvConf, { mode: 0o644 });
      renameSync("/etc/resolv.conf.new", "/etc/resolv.conf");
    }
    dhcpOn = steps.dhcp4;
    say(`network: the context's configuration applied (${steps.commands.length} ip commands${dhcpOn.length ? `, DHCP on ${dhcpOn.join(", ")}` : ""})`);
  }
  const results = await Promise.all(dhcpOn.map(async (dev) => (addresses(dev).length ? { dev, ok: true, note: "configured already" } : { dev, ...(await dhcp(dev)) })));
  const up = devs.filter((d) => addresses(d).length);
  for (const dev of devs) {
    const r = results.find((x) => x.dev === dev);
    say(`network: ${dev} ${up.includes(dev) ? addresses(dev).join(", ") : "down"} (${r?.note ?? "static"}, ${seconds(t0)})`);
  }
  if (!up.length) throw new CvmError(`no interface got an address (${devs.join(", ")})`);
}
