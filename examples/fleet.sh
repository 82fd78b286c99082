#!/usr/bin/env bash
# The seed's workflow on this machine, the built-in region `local`: publish a repository holding a pilot, serve
# it, make a grid proxy from a throwaway credential, boot two workers with qemu (`run --template …:2 --proxy
# --wait`), list them, show what each pilot printed (it proves it read its proxy: `cvm proxy info` in the guest),
# terminate them. Everything lives in a throwaway directory (CVM_CONFIG_DIR, CVM_DATA_DIR), removed at the end.
# Needs: qemu-system-x86_64, a kernel in /boot, busybox, zstd, cpio, openssl; run as root (qemu's user network
# and the guest's files need no more, but the appliance build reads /boot and /lib/modules).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cvm="$here/../dist/cvm"
work=$(mktemp -d)
export CVM_CONFIG_DIR="$work/config" CVM_DATA_DIR="$work/data" CVM_STATE_DIR="$work/state" X509_USER_PROXY="$work/proxy"
serve_pid=
cleanup() {
  local ids
  ids=$("$cvm" --region local ls 2>/dev/null | awk -F'\t' '$6 != "terminated" { print $1 }') || true
  [ -n "$ids" ] && "$cvm" --region local terminate -y $ids >/dev/null || true
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fqrn=pilot.example.org

echo "== an appliance, registered as an image of the local region"
"$cvm" appliance build -f initrd -o "$work/appliance" >/dev/null
ami=$("$cvm" appliance register "$work/appliance" --name worker | cut -f1)
"$cvm" --region local -H ls -i

echo "== a repository holding the pilot, served on 127.0.0.1"
mkdir -p "$work/pilot"
cat > "$work/pilot/pilot.sh" <<'PILOT'
#!/bin/sh
echo "pilot of queue $PANDA_QUEUE on $(hostname), as $(id -un)"
cvm proxy info --identity | sed 's/^/holding a proxy of /'
PILOT
chmod 755 "$work/pilot/pilot.sh"
"$cvm" publish init "$fqrn" --storage "$work/srv/$fqrn" --keys "$work/keys" >/dev/null
"$cvm" publish sync "$fqrn" "$work/pilot" >/dev/null
"$cvm" serve --listen 127.0.0.1:0 "$work/srv/$fqrn" > "$work/serve.out" &
serve_pid=$!
for _ in $(seq 100); do grep -q '127\.0\.0\.1:' "$work/serve.out" && break; sleep 0.1; done
port=$(grep -o '127\.0\.0\.1:[0-9]*' "$work/serve.out" | head -1 | cut -d: -f2)

echo "== the local region forwards that port to its guests; a worker-node template like panda-wn"
mkdir -p "$CVM_CONFIG_DIR/templates"
cat > "$CVM_CONFIG_DIR/regions.ini" <<INI
[local]
forward = $port
PANDA_QUEUE = LOCAL-TEST
REPO = $fqrn
REPO_PORT = $port
REPO_KEY = $(base64 -w0 "$work/keys/$fqrn.pub")
INI
cat > "$CVM_CONFIG_DIR/templates/fleet-wn.ini" <<'INI'
# A PanDA-style worker node whose pilot comes from a repository this machine serves
[cernvm]
users = pilot:pilot:
x509-user = pilot
environment = PANDA_QUEUE=${PANDA_QUEUE}
extra_repositories = ${REPO}|http://${HOST}:${REPO_PORT}/cvmfs/${REPO}|${REPO_KEY}
contextualization_command = pilot:/cvmfs/${REPO}/pilot.sh
[cvmfs]
CVMFS_HTTP_PROXY = DIRECT
INI
"$cvm" regions -H | cut -c1-160

echo "== a grid proxy from a throwaway credential"
bash "$here/make-test-credential.sh" "$work/pki" demo-passphrase
echo demo-passphrase | "$cvm" proxy init --pwstdin --cert "$work/pki/usercert.pem" --key "$work/pki/userkey.pem" --valid 24:00 >/dev/null
"$cvm" proxy info --identity

echo "== cvm --region local run $ami --template fleet-wn:2 --proxy --wait"
time "$cvm" --region local -H run "$ami" --template fleet-wn:2 --proxy --wait
"$cvm" --region local -H ls

for id in $("$cvm" --region local ls --state running | cut -f1); do
  echo "== what the pilot of $id printed (cvm console $id)"
  "$cvm" console "$id" | grep '^\[pilot\.sh\]'
done

echo "== terminate (ACPI power-off)"
"$cvm" --region local terminate -y --all-from "$("$cvm" --region local ls | head -1 | cut -f2)"
"$cvm" --region local -H ls
