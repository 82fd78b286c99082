import { CvmError } from "../../cli/errors";
import { say, seconds } from "./console";
import { interfaces, run } from "./system";

/** The addresses an interface has (ip -o -4 addr), e.g. "10.0.2.15/24". */
function addresses(dev: string): string[] {
  return run(["ip", "-o", "-4", "addr", "show", "dev", dev], `ip addr ${dev}`).split("\n").map((l) => /inet (\S+)/.exec(l)?.[1]).filter((a): a is string => !!a);
}

/**
 * lo up, then DHCP on every interface that has no address yet (busybox
 * udhcpc with the image's hook, all at once). Interfaces that get no lease
 * are said and left down; none at all is an error.
 */
export async function configureNetwork(): Promise<void> {
  run(["ip", "link", "set", "lo", "up"], "ip link lo");
  const devs = interfaces();
  if (!devs.length) throw new CvmError("network: no interface (is virtio_net loaded? -device virtio-net-pci under qemu)");
  const t0 = performance.now();
  const results = await Promise.all(devs.map(async (dev) => {
    if (addresses(dev).length) return { dev, ok: true, note: "configured already" };
    run(["ip", "link", "set", dev, "up"], `ip link ${dev}`);
    const p = Bun.spawn({ cmd: ["udhcpc", "-s", "/usr/share/udhcpc/default.script", "-i", dev, "-n", "-q", "-f", "-t", "5", "-T", "1", "-A", "1"], stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } });
    const code = await p.exited;
    return { dev, ok: code === 0, note: code === 0 ? "DHCP" : `no DHCP lease (${(await new Response(p.stderr).text()).trim().split("\n").pop() || `udhcpc exit ${code}`})` };
  }));
  for (const r of results) {
    const addr = r.ok ? addresses(r.dev).join(", ") : "";
    say(`network: ${r.dev} ${r.ok ? addr : "down"} (${r.note}, ${seconds(t0)})`);
  }
  if (!results.some((r) => r.ok)) throw new CvmError(`network: no interface got an address (${devs.join(", ")})`);
}
