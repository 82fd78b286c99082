#!/usr/bin/env bash
# The main job on an embedded default, no account needed: `cvm demo` publishes a
# repository, serves it, replicates it to a stratum 1, mounts it (or reads it
# with cvm fs where FUSE is not available) and shows a new revision appear;
# then a grid proxy is made from a throwaway credential and checked by openssl.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cvm="$here/../dist/cvm"
"$cvm" demo "$@"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== a grid proxy from a throwaway credential"
bash "$here/make-test-credential.sh" "$work/pki" demo-passphrase
echo demo-passphrase | "$cvm" proxy init --pwstdin --cert "$work/pki/usercert.pem" --key "$work/pki/userkey.pem" --out "$work/proxy" --valid 2:00
"$cvm" proxy info -f "$work/proxy"
echo "checked by openssl: $(openssl verify -allow_proxy_certs -CApath "$work/pki/certificates" -untrusted "$work/proxy" "$work/proxy")"
"$cvm" proxy destroy -f "$work/proxy"
