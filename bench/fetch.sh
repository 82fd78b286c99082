#!/usr/bin/env bash
# Cold and warm `cvm fs get` through squid vs the raw transfer limit (curl + inflate); see bench/fetch.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x dist/cvm ] || node_modules/.bin/bun build.ts
exec node_modules/.bin/bun bench/fetch.ts
