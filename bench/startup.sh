#!/usr/bin/env bash
# Start-up time of the single binary against the bare runtime it is built on:
# `cvm --version` and `bun -e 0` of the same Bun, run in turn (A, B, A, B, …),
# medians of 40 runs; then `cvm proxy info --help` (loads citty and one command).
# Target: cvm --version <= 1.2x bun -e 0.
set -euo pipefail
cd "$(dirname "$0")/.."
bun=${BUN:-node_modules/.bin/bun}
[ -x dist/cvm ] || $bun build.ts
$bun bench/lib/time.ts --runs 40 --warmup 5 -- dist/cvm --version ::: "$bun" -e 0
$bun bench/lib/time.ts --runs 30 -- dist/cvm proxy info --help
