#!/usr/bin/env bash
# A mount through 1,000 revisions: the daemon's RSS after 10 and after 1,000 and the difference (bench/mount-lifetime.ts). Root only.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${CVM:-}" ] || [ -x dist/cvm ] || node_modules/.bin/bun build.ts
exec node_modules/.bin/bun bench/mount-lifetime.ts
