import { dirname, join } from "node:path";

/**
 * How a guest is started under qemu: the one place that knows qemu's command
 * line, used by `cvm appliance build` (to print it), the tests and the local
 * region. TCG by default: on these machines /dev/kvm exists but KVM guests
 * hang; CVM_QEMU_ACCEL=kvm asks for it. The CPU is `max`, which has the
 * SSE4.2 and POPCNT cvm needs (qemu's default qemu64 has neither).
 */
export interface GuestSpec {
  image: string;              // initrd.img (with vmlinuz beside it), disk.raw or appliance.iso
  format: "initrd" | "raw" | "iso";
  memoryMiB?: number;
  cpus?: number;
  cpu?: string;               // the CPU model [max]
  append?: string;            // kernel arguments (initrd format only: raw and iso have theirs baked in)
  disks?: { file: string; cdrom?: boolean; readonly?: boolean }[];  // context disks, scratch disks
  /**
   * Guest addresses forwarded to host ports, or to a command qemu starts for
   * each connection (its stdin and stdout are the connection); with
   * `restrict`, nothing else is reachable.
   */
  forwards?: ({ guest: string; port: number; hostPort: number } | { guest: string; port: number; command: string[] })[];
  restrict?: boolean;
  /** The user network's address range (CIDR), and the first address its DHCP gives [qemu's 10.0.2.0/24, .15]. */
  network?: { net: string; dhcpStart?: string };
  qmp?: string;               // a QMP socket (power-down, quit)
  pidFile?: string;
  daemonize?: boolean;        // qemu detaches once the guest is set up (needs `serial`)
  serial?: string;            // a file for the console; default: qemu's stdio
  snapshot?: boolean;         // writes to the raw image are kept in memory, not in the file
  extra?: string[];
}

export const DEFAULT_MEMORY_MIB = { initrd: 512, iso: 512, raw: 256 } as const;

export function accel(env = process.env): string {
  // a 64 MiB translation cache instead of qemu's default: about 85 MiB less RSS per guest, boots as fast
  return env.CVM_QEMU_ACCEL || "tcg,tb-size=64";
}

export function guestArgv(s: GuestSpec): string[] {
  const argv = ["qemu-system-x86_64", "-accel", accel(), "-cpu", s.cpu ?? "max", "-m", String(s.memoryMiB ?? DEFAULT_MEMORY_MIB[s.format]), "-smp", String(s.cpus ?? 1),
    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"];
  if (s.format === "initrd") {
    argv.push("-kernel", join(dirname(s.image), "vmlinuz"), "-initrd", s.image, "-append", `console=ttyS0,115200n8 ${s.append ?? ""}`.trim());
  } else if (s.format === "raw") {
    argv.push("-drive", `file=${s.image},format=raw,if=virtio${s.snapshot ? ",snapshot=on" : ""}`);
  } else {
    argv.push("-drive", `file=${s.image},format=raw,media=cdrom,readonly=on`, "-boot", "d");
  }
  for (const d of s.disks ?? []) {
    argv.push("-drive", d.cdrom ? `file=${d.file},format=raw,media=cdrom,readonly=on` : `file=${d.file},format=raw,if=virtio${d.readonly ? ",readonly=on" : ""}`);
  }
  // qemu's option syntax doubles a comma inside a value
  const fwd = (s.forwards ?? []).map((f) => `,guestfwd=tcp:${f.guest}:${f.port}-cmd:${("command" in f ? shellWords(f.command) : `busybox nc 127.0.0.1 ${f.hostPort}`).replace(/,/g, ",,")}`).join("");
  const net = s.network ? `,net=${s.network.net}${s.network.dhcpStart ? `,dhcpstart=${s.network.dhcpStart}` : ""}` : "";
  argv.push("-netdev", `user,id=net0${net}${s.restrict ? ",restrict=on" : ""}${fwd}`, "-device", "virtio-net-pci,netdev=net0");
  argv.push("-device", "virtio-rng-pci");
  argv.push("-serial", s.serial ? `file:${s.serial.replace(/,/g, ",,")}` : "stdio");
  if (s.qmp) argv.push("-qmp", `unix:${s.qmp.replace(/,/g, ",,")},server=on,wait=off`);
  if (s.pidFile) argv.push("-pidfile", s.pidFile);
  if (s.daemonize) argv.push("-daemonize");
  return [...argv, ...(s.extra ?? [])];
}

/** Words for the `sh -c` qemu runs a guestfwd command with: each single-quoted. */
function shellWords(words: string[]): string {
  return words.map((w) => "'" + w.replaceAll("'", "'\\''") + "'").join(" ");
}

/** The command a person types to try an image (printed by `cvm appliance build`). */
export function qemuCommand(image: string, format: "initrd" | "raw" | "iso" | "tree"): string[] {
  if (format === "tree") return [];
  return guestArgv({ image, format, snapshot: format === "raw", append: "quiet cvm.shell" });
}
