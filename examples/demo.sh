#!/usr/bin/env bash
# The main job on an embedded default, no account needed: a throwaway grid
# credential, a proxy made from it with cvm, described, checked with openssl,
# and destroyed. (Becomes `cvm demo` — publish, serve, mount — when CernVM-FS lands.)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cvm="$here/../dist/cvm"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== a throwaway credential in $work"
bash "$here/make-test-credential.sh" "$work" demo-passphrase

echo "== cvm proxy init"
echo demo-passphrase | "$cvm" proxy init --pwstdin --cert "$work/usercert.pem" --key "$work/userkey.pem" --out "$work/proxy" --valid 2:00

echo "== cvm proxy info"
"$cvm" proxy info -f "$work/proxy"

echo "== checked by openssl: $(openssl verify -allow_proxy_certs -CApath "$work/certificates" -untrusted "$work/proxy" "$work/proxy")"

echo "== cvm proxy destroy"
"$cvm" proxy destroy -f "$work/proxy"
test ! -e "$work/proxy" && echo "proxy removed"
