#!/usr/bin/env bash
# `cvm proxy init` vs Globus `grid-proxy-init` on the same credential (an
# encrypted key, passphrase on stdin) and key size, alternating runs, median of
# each over 20 runs, printed as a ratio cvm / Globus. Target: <= 1.0.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x dist/cvm ] || node_modules/.bin/bun build.ts
command -v grid-proxy-init >/dev/null || { echo "grid-proxy-init missing: apt-get install globus-proxy-utils" >&2; exit 1; }
bun=${BUN:-node_modules/.bin/bun}
bits=${BITS:-2048}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bash examples/make-test-credential.sh "$work" benchpass
$bun bench/lib/time.ts --runs "${RUNS:-20}" --stdin 'benchpass\n' -- \
  dist/cvm proxy init -q --pwstdin --bits "$bits" --cert "$work/usercert.pem" --key "$work/userkey.pem" --out "$work/cvm-proxy" ::: \
  grid-proxy-init -q -pwstdin -bits "$bits" -cert "$work/usercert.pem" -key "$work/userkey.pem" -out "$work/globus-proxy"
