#!/usr/bin/env bash
# Start-up time of the single binary: median wall time of `cvm --version` and
# `cvm proxy info --help` over 30 runs each. Target: <= 30 ms median.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x dist/cvm ] || bun build.ts
bun=${BUN:-node_modules/.bin/bun}
$bun bench/lib/time.ts --runs 30 -- dist/cvm --version
$bun bench/lib/time.ts --runs 30 -- dist/cvm proxy info --help
