#!/usr/bin/env bash
# cvm ls, cvm ls -i and cvm run --template panda-wn:100 against the EC2 Query
# API double, vs Debian's awscli doing the same (describe-instances,
# describe-images, run-instances --count 100) on the same server in the same
# run; alternating, median of 10 each. Prints the ratios cvm / aws. Target <= 0.2.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x dist/cvm ] || node_modules/.bin/bun build.ts
AWS=${AWS:-/usr/bin/aws}   # Debian's awscli, not whatever else is on PATH
[ -x "$AWS" ] || { echo "$AWS missing: apt-get install awscli" >&2; exit 1; }
bun=${BUN:-node_modules/.bin/bun}
work=$(mktemp -d)
$bun test/ec2/serve.ts --instances 100 --images 20 > "$work/url" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -s "$work/url" ] && break; sleep 0.1; done
url=$(cat "$work/url")

export CVM_CONFIG_DIR=$work/config AWS_ACCESS_KEY_ID=AKIDBENCH AWS_SECRET_ACCESS_KEY=bench-secret AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=$work/none AWS_SHARED_CREDENTIALS_FILE=$work/none
mkdir -p "$CVM_CONFIG_DIR"
printf '[BENCH]\nendpoint = %s\n' "$url" > "$CVM_CONFIG_DIR/regions.ini"
dist/cvm template render panda-wn --set PANDA_QUEUE=BENCH > "$work/user-data"
ami=$(dist/cvm --region BENCH ls -i | head -1 | cut -f1)
aws="$AWS --endpoint-url $url --output json"

echo "== ls (100 instances)"
$bun bench/lib/time.ts --runs 10 -- dist/cvm --region BENCH ls ::: $aws ec2 describe-instances
echo "== ls -i (20 images)"
$bun bench/lib/time.ts --runs 10 -- dist/cvm --region BENCH ls -i ::: $aws ec2 describe-images
echo "== run 100 instances with a template"
$bun bench/lib/time.ts --runs 10 -- dist/cvm --region BENCH run "$ami" --template panda-wn:100 --set PANDA_QUEUE=BENCH ::: \
  $aws ec2 run-instances --image-id "$ami" --count 100 --user-data "file://$work/user-data"
