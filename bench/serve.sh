#!/usr/bin/env bash
# `cvm serve` vs nginx (upstream's stratum settings) serving the same storage to the same
# parallel client (wrk when installed: apt-get install wrk; else curl with xargs -P), one worker each and one
# per core; then 2,000 slow readers (RSS); see bench/serve.ts.
# Prints requests/s and MB/s of both and the ratio. Targets: >= 1.0x on small objects, >= 0.9x on big
# ones (one worker each); <= 256 MB with 2,000 slow readers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/system-deps.sh   # nginx
if ! command -v wrk >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing wrk" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk >/dev/null || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk >/dev/null; }
fi
[ -n "${CVM:-}" ] || [ -x dist/cvm ] || node_modules/.bin/bun build.ts
exec node_modules/.bin/bun bench/serve.ts
