#!/usr/bin/env bash
# `cvm publish snapshot` of a 10,000-file / 500 MB repository over loopback vs the raw
# transfer of the same objects (curl, same parallelism, written as files); see bench/snapshot.ts.
# Prints objects/s, MB/s and the ratio. Target: ratio >= 0.8. CVM=/path/to/cvm compares another build.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${CVM:-}" ] || [ -x dist/cvm ] || node_modules/.bin/bun build.ts
exec node_modules/.bin/bun bench/snapshot.ts
