#!/usr/bin/env bash
# The real components the tests run against, from Debian. Installed when missing
# and we can (root with apt-get, as in CI); otherwise the tests needing them are
# skipped locally (and fail under CVM_REQUIRE_TOOLS=1).
set -euo pipefail
declare -A PACKAGE_OF=(
  [openssl]=openssl
  [grid-proxy-init]=globus-proxy-utils
  [grid-proxy-info]=globus-proxy-utils
  [voms-proxy-info]=voms-clients
  [python3]=python3
  [setsid]=util-linux
  [getent]=libc-bin
  [faketime]=faketime   # .ci/run runs the suite a second time at a faked date
  [nginx]=nginx         # stratum 1 and site proxy for the client tests (test/servers/)
  [squid]=squid
  [curl]=curl
  [fusermount3]=fuse3   # non-root FUSE mounts (test/fuse-lifecycle.test.ts)
  [getfattr]=attr       # xattrs on a FUSE mount
  [setpriv]=util-linux  # runs a FUSE daemon as a normal user
  [mkfs.vfat]=dosfstools  # context disk images whose labels the agent reads (test/agent-disks.test.ts)
  [xorriso]=xorriso
  [mke2fs]=e2fsprogs
  [losetup]=mount       # context disks attached as loop devices
  [busybox]=busybox     # its `ip` applies the agent's network model live (test/agent-network.test.ts)
  [unshare]=util-linux  # a network namespace to apply it in
)
PATH="$PATH:/usr/sbin:/sbin"   # where nginx and squid live, often not on a user's PATH
missing=()
for tool in "${!PACKAGE_OF[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${PACKAGE_OF[$tool]}")
done
# fuse3's udev rule opens /dev/fuse to everyone (fusermount3 opens it as the user); machines without udev keep 0600.
fuse_device_mode() { [ -c /dev/fuse ] && [ "$(id -u)" = 0 ] && chmod 0666 /dev/fuse || true; }
[ ${#missing[@]} -eq 0 ] && { fuse_device_mode; exit 0; }
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing test dependencies: $packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $packages >/dev/null
else
  echo "warning: tests needing these Debian packages will be skipped: $packages (apt-get install them as root)" >&2
fi
fuse_device_mode
