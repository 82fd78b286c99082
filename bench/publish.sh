#!/usr/bin/env bash
# `cvm publish sync` of 10,000 small files plus 1 GB of mixed data (half random,
# half text), against `tar -czf` of the same tree in the same run.
# Prints files/s, MB/s and the ratio cvm / tar. Target: ratio <= 1.0.
# CVM=/path/to/cvm compares another build (e.g. the previous commit's).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${CVM:-}" ] || [ -x dist/cvm ] || node_modules/.bin/bun build.ts
cvm=${CVM:-dist/cvm}
bun=${BUN:-node_modules/.bin/bun}
small=${SMALL_FILES:-10000}
large=${LARGE_BYTES:-1073741824}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CVM_CONFIG_DIR=$work/config CVM_STATE_DIR=$work/state

$bun bench/lib/make-tree.ts "$work/src" "$small" "$large"
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
cat "$work"/src/large/* > /dev/null   # both runs start from a warm page cache
mb=$(du -sm --apparent-size "$work/src" | cut -f1)

"$cvm" publish init bench.example.org --storage "$work/srv" --keys "$work/keys" > /dev/null
t0=$(date +%s.%N)
"$cvm" publish sync bench.example.org "$work/src" > "$work/sync.out"
t1=$(date +%s.%N)
tar -czf "$work/tree.tgz" -C "$work/src" .
t2=$(date +%s.%N)

cvm_s=$(echo "$t1 - $t0" | bc -l); tar_s=$(echo "$t2 - $t1" | bc -l)
files=$((small + $(ls "$work/src/large" | wc -l)))
printf 'tree: %d files, %d MB\n' "$files" "$mb"
printf 'cvm publish sync: %.2f s  (%.0f files/s, %.1f MB/s)\n' "$cvm_s" "$(echo "$files / $cvm_s" | bc -l)" "$(echo "$mb / $cvm_s" | bc -l)"
printf 'tar -czf:         %.2f s  (%.0f files/s, %.1f MB/s)\n' "$tar_s" "$(echo "$files / $tar_s" | bc -l)" "$(echo "$mb / $tar_s" | bc -l)"
printf 'ratio cvm / tar: %.2f\n' "$(echo "$cvm_s / $tar_s" | bc -l)"
