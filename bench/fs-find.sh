#!/usr/bin/env bash
# `cvm fs find` over a published tree of 100,000 entries (1,000 directories of
# 99 small files, in 10 nested catalogs): entries per second, median of 5 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x dist/cvm ] || node_modules/.bin/bun build.ts
bun=${BUN:-node_modules/.bin/bun}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CVM_CONFIG_DIR=$work/config CVM_STATE_DIR=$work/state
$bun -e '
  const { mkdirSync, writeFileSync } = require("node:fs");
  const root = process.argv[1];
  for (let c = 0; c < 10; c++) {
    mkdirSync(`${root}/part${c}`, { recursive: true });
    writeFileSync(`${root}/part${c}/.cvmfscatalog`, "");
    for (let d = 0; d < 100; d++) {
      const dir = `${root}/part${c}/dir${d}`;
      mkdirSync(dir);
      for (let f = 0; f < 99; f++) writeFileSync(`${dir}/file${f}`, `${c}/${d}/${f}\n`);
    }
  }' "$work/src"
dist/cvm publish init find.example.org --storage "$work/srv" --keys "$work/keys" > /dev/null
dist/cvm publish sync find.example.org "$work/src"
entries=$(dist/cvm fs find "$work/srv" --fqrn find.example.org --keys "$work/keys" | wc -l)
echo "entries found: $entries"
$bun bench/lib/time.ts --runs 5 --warmup 1 -- dist/cvm fs find "$work/srv" --fqrn find.example.org --keys "$work/keys" | tee "$work/t"
median=$(grep -o 'median [0-9.]*' "$work/t" | cut -d' ' -f2)
printf 'cvm fs find: %.0f entries/s\n' "$(echo "$entries / ($median / 1000)" | bc -l)"
