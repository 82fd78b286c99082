#!/usr/bin/env bash
# The local region: `run … :2 --proxy --wait` wall time under qemu TCG, host RSS per guest, ls time with guests
# running, terminate time (bench/fleet.ts). RUNS=3 by default.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x dist/cvm ] || node_modules/.bin/bun build.ts
unset CVM_QEMU_ACCEL
exec node_modules/.bin/bun bench/fleet.ts
