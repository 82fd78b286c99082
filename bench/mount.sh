#!/usr/bin/env bash
# cvm mount vs local disk on one tree: find -ls, sequential and 4 KiB reads, cold read over HTTP, daemon RSS (bench/mount.ts). Root only.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x dist/cvm ] || node_modules/.bin/bun build.ts
exec node_modules/.bin/bun bench/mount.ts
