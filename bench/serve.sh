#!/usr/bin/env bash
# `cvm serve` vs nginx (upstream's stratum settings) serving the same storage to the same
# parallel client (wrk when installed: apt-get install wrk; else curl with xargs -P); see bench/serve.ts.
# Prints requests/s and MB/s of both and the ratio. Target: ratio >= 0.5 on small objects.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${CVM:-}" ] || [ -x dist/cvm ] || node_modules/.bin/bun build.ts
exec node_modules/.bin/bun bench/serve.ts
