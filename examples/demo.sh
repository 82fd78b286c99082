#!/usr/bin/env bash
# The main job on an embedded default, no account needed: a CernVM-FS
# repository published with cvm, served over HTTP on loopback, and read back
# with every signature and hash verified; then a grid proxy made from a
# throwaway credential. (The FUSE mount joins when `cvm mount` lands.)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cvm="$here/../dist/cvm"
work=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export CVM_CONFIG_DIR="$work/config" CVM_STATE_DIR="$work/state"   # leave the user's own settings alone
fqrn=demo.example.org

echo "== a software tree to publish"
mkdir -p "$work/tree/sw/v1" "$work/tree/data"
printf '#!/bin/sh\necho "hello from CernVM-FS"\n' > "$work/tree/sw/v1/hello.sh"; chmod 755 "$work/tree/sw/v1/hello.sh"
touch "$work/tree/sw/v1/.cvmfscatalog"                          # its own nested catalog
head -c 20000000 /dev/urandom > "$work/tree/data/calibration.bin"  # big enough to be chunked
ln -s 'sw/$(DEMO_VERSION:-v1)' "$work/tree/current"              # a variant symlink

echo "== cvm publish init + sync"
"$cvm" publish init "$fqrn" --storage "$work/www/cvmfs/$fqrn" --keys "$work/keys" | head -4
"$cvm" publish sync "$fqrn" "$work/tree"

echo "== serving $work/www over HTTP"
port=$((20000 + RANDOM % 20000))
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 &
server=$!
url="http://127.0.0.1:$port/cvmfs/$fqrn"
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

echo "== cvm fs, over $url"
"$cvm" fs info "$url" --keys "$work/keys"
"$cvm" fs ls "$url" / -l --keys "$work/keys"
"$cvm" fs cat "$url" /sw/v1/hello.sh --keys "$work/keys"
"$cvm" fs verify "$url" --keys "$work/keys"

echo "== a grid proxy from a throwaway credential"
bash "$here/make-test-credential.sh" "$work/pki" demo-passphrase
echo demo-passphrase | "$cvm" proxy init --pwstdin --cert "$work/pki/usercert.pem" --key "$work/pki/userkey.pem" --out "$work/proxy" --valid 2:00
"$cvm" proxy info -f "$work/proxy"
echo "checked by openssl: $(openssl verify -allow_proxy_certs -CApath "$work/pki/certificates" -untrusted "$work/proxy" "$work/proxy")"
"$cvm" proxy destroy -f "$work/proxy"
