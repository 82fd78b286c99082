/**
 * The few shell scripts an appliance holds. They do only what must happen
 * before cvm can run (the kernel's file systems, the CPU check, modules, the
 * root disk) or what busybox's tools call (the DHCP hook); everything else
 * is `cvm appliance boot`. No value from user_data ever reaches them.
 */

/** What /init knows of the image: written by the builder as /etc/cvm-appliance.conf. */
export interface StageConfig {
  kernelVersion: string;
  rootLabel?: string;      // the raw image's initramfs: mount this ext4 disk and switch to it
  rootRepository?: string; // the OS comes from this CernVM-FS repository (cvm mounts it, then switch_root)
}

export function stageConfig(c: StageConfig): string {
  return [`KERNEL_VERSION=${c.kernelVersion}`, `ROOT_LABEL=${c.rootLabel ?? ""}`, `ROOT_REPOSITORY=${c.rootRepository ?? ""}`].join("\n") + "\n";
}

export const INIT = `#!/bin/busybox sh
# The appliance's first process (written by cvm appliance build). It mounts the kernel's file systems, checks
# the CPU floor, loads the modules and, in a disk image, finds the root; then busybox init becomes PID 1: it runs
# \`cvm appliance boot\` and reaps every orphan. Kernel arguments: cvm.shell (a root shell on the console, also
# after a failure), cvm.once (power off when the boot is over or has failed), cvm.debug (trace this script).
/bin/busybox mkdir -p /proc /sys /dev /run /tmp /newroot
[ -e /proc/mounts ] || /bin/busybox mount -t proc -o nosuid,nodev,noexec proc /proc
/bin/busybox grep -q " /sys " /proc/mounts || /bin/busybox mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
/bin/busybox grep -q " /dev " /proc/mounts || /bin/busybox mount -t devtmpfs -o nosuid devtmpfs /dev
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
. /etc/cvm-appliance.conf
say() { echo "cvm-boot: $*"; }
once= shell=
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    cvm.once) once=1 ;;
    cvm.shell) shell=1 ;;
    cvm.debug) set -x ;;
  esac
done
stop() { # a failure before cvm runs: said, then a shell, a power-off, or a halt (PID 1 must not end)
  say "failed: $*"
  [ -n "$once" ] && { sync; poweroff -f; }
  [ -n "$shell" ] && while :; do say "a root shell on the console (cvm.shell)"; setsid cttyhack sh; done
  say "halted: boot with cvm.shell for a shell on the console, cvm.once to power off"
  while :; do sleep 3600; done
}

missing=
for flag in sse4_2 popcnt; do grep -qw "$flag" /proc/cpuinfo || missing="$missing $flag"; done
[ -z "$missing" ] || stop "this CPU lacks$missing, which cvm needs (x86-64 with SSE4.2 and POPCNT: qemu -cpu max, host, or Nehalem and later)"

kver=$(uname -r)
[ "$kver" = "$KERNEL_VERSION" ] || say "warning: kernel $kver, but the modules are for $KERNEL_VERSION"
while read -r name path; do
  [ -d "/sys/module/$name" ] && continue
  out=$(insmod "/lib/modules/$KERNEL_VERSION/$path" 2>&1) || say "module $name: $out"
done < "/lib/modules/$KERNEL_VERSION/cvm.load"

switch() { # $1 the new root, mounted; the kernel's file systems are bound into it (not moved: a root
  # repository's mount daemon keeps the old root as its own, and its cache under this /run)
  [ -x "$1/init" ] || stop "the new root has no executable /init"
  for d in dev sys run proc; do
    grep -q " /$d " /proc/mounts && { mkdir -p "$1/$d"; mount --bind "/$d" "$1/$d"; }
  done
  exec switch_root "$1" /init
}

if [ -n "$ROOT_LABEL" ]; then
  tries=0
  until dev=$(findfs "LABEL=$ROOT_LABEL" 2>/dev/null); do
    tries=$((tries + 1))
    [ $tries -le 200 ] || stop "no disk labelled $ROOT_LABEL after 20 s (attach the image as a virtio or IDE disk)"
    sleep 0.1
  done
  mount -t ext4 -o rw,noatime "$dev" /newroot || stop "cannot mount the root $dev"
  switch /newroot
fi
if [ -n "$ROOT_REPOSITORY" ] && ! grep -q " /newroot " /proc/mounts; then
  mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
  cvm appliance boot --stage root || stop "the root repository $ROOT_REPOSITORY could not be mounted"
  switch /newroot
fi

grep -q " /run " /proc/mounts || mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
{
  echo "::once:/usr/bin/cvm appliance boot"
  echo "::respawn:/sbin/acpid -f -c / -a /etc/acpid.conf"
  [ -n "$shell" ] && echo "::askfirst:-/bin/sh"
  echo "::ctrlaltdel:/sbin/poweroff"
  echo "::shutdown:/bin/sync"
} > /etc/inittab
exec /sbin/init
`;

/** busybox udhcpc's hook: the lease applied with ip(8); values from the DHCP server are only ever quoted. */
export const UDHCPC_SCRIPT = `#!/bin/sh
# Called by udhcpc with the event in $1 and the lease in the environment (written by cvm appliance build).
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/\${mask:-24}" dev "$interface"
    [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
    for gw in $router; do ip route add default via "$gw" dev "$interface" && break; done
    {
      [ -n "$domain" ] && echo "search $domain"
      for ns in $dns; do echo "nameserver $ns"; done
    } > /etc/resolv.conf.new && mv /etc/resolv.conf.new /etc/resolv.conf
    ;;
esac
exit 0
`;

/**
 * busybox acpid: the power button (a cloud's or qemu's "power down") powers off cleanly.
 * acpid runs an action as "./ACTION" from its directory (-c, else /etc/acpi, which the
 * image lacks: acpid died at start), hence `-c /` for the absolute path here.
 */
export const ACPID_CONF = "PWRF /sbin/poweroff\n";
