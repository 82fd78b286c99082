#!/usr/bin/env bash
# cvm appliance: build time, sizes, and boot-to-agent / boot-to-pilot under qemu TCG (bench/appliance.ts). RUNS=3 by default.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x dist/cvm ] || node_modules/.bin/bun build.ts
exec node_modules/.bin/bun bench/appliance.ts
