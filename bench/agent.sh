#!/usr/bin/env bash
# Boot-time contextualization: median wall time of `cvm agent` applying the seed's example
# user_data (test/fixtures/agent/seed-example.ini: every [cernvm] key, plus an x509-cert made
# here) to a fresh guest root on tmpfs, the contextualization command really run (chroot).
# Target: <= 50 ms. Beside it, the start-up time of `cloud-init --version` (Debian's
# cloud-init, installed with apt-get when missing), which every cloud-init stage pays.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x dist/cvm ] || node_modules/.bin/bun build.ts
bun=${BUN:-node_modules/.bin/bun}
runs=${RUNS:-30}
[ "$(id -u)" = 0 ] || { echo "bench/agent.sh: needs root (the agent creates users and runs the command as one)" >&2; exit 1; }

base=/dev/shm
[ "$(stat -f -c %T "$base" 2>/dev/null)" = tmpfs ] || { base=${TMPDIR:-/tmp}; echo "note: /dev/shm is not tmpfs here; using $base" >&2; }
work=$(mktemp -d "$base/cvm-bench-agent-XXXXXX")
trap 'rm -rf "$work"' EXIT

# The guest: account files as a Debian image has them, login.defs, /etc/skel, an sshd unit,
# /bin/sh with its libraries, and the script the contextualization command names.
tpl=$work/template
mkdir -p "$tpl"/{etc/skel,root,home,tmp,var/lib,var/log,lib/systemd/system,opt/cms}
chmod 755 "$tpl"; chmod 1777 "$tpl/tmp"; chmod 700 "$tpl/root"
printf 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n' > "$tpl/etc/passwd"
printf 'root:x:0:\ndaemon:x:1:\n' > "$tpl/etc/group"
printf 'root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n' > "$tpl/etc/shadow"; chmod 640 "$tpl/etc/shadow"
printf 'UID_MIN 1000\nGID_MIN 1000\nENCRYPT_METHOD SHA512\n' > "$tpl/etc/login.defs"
printf '# skeleton\n' > "$tpl/etc/skel/.profile"
printf '[Service]\nExecStart=/usr/sbin/sshd -D\n[Install]\nWantedBy=multi-user.target\n' > "$tpl/lib/systemd/system/sshd.service"
for f in /bin/sh $(ldd /bin/sh | grep -o '/[^ ]*'); do mkdir -p "$tpl$(dirname "$f")"; cp -L "$f" "$tpl$f"; done
printf '#!/bin/sh\necho "contextualized for $USER" > "$HOME/setup.done"\n' > "$tpl/opt/cms/setup.sh"; chmod 755 "$tpl/opt/cms/setup.sh"

# The user_data: the seed's example with a credential as x509-cert (what `cvm run --proxy` adds)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 -subj /CN=bench 2>/dev/null
cert=$(cat "$work/cert.pem" "$work/key.pem" | base64 -w0)
sed "s|^\[cernvm\]\$|[cernvm]\nx509-cert = $cert|" test/fixtures/agent/seed-example.ini > "$work/user-data"

cat > "$work/time.ts" <<'TS'
// One fresh copy of the guest per run (copied outside the clock); the clock covers the agent's process only.
const [cvm, tpl, ud, work, runs] = Bun.argv.slice(2);
const once = async (i: number) => {
  const root = `${work}/r${i}`;
  Bun.spawnSync(["cp", "-a", tpl, root]);
  const t0 = performance.now();
  const p = Bun.spawn([cvm, "agent", "--root", root, "--user-data", ud], { stdout: "ignore", stderr: "pipe" });
  const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  const ms = performance.now() - t0;
  if (code !== 0 || err) throw new Error(`cvm agent exited ${code}: ${err}`);
  if (!(await Bun.file(`${root}/home/cms/setup.done`).exists())) throw new Error("the contextualization command did not run");
  Bun.spawnSync(["rm", "-rf", root]);
  return ms;
};
for (let i = 0; i < 3; i++) await once(-1 - i); // warm the page cache
const samples: number[] = [];
for (let i = 0; i < Number(runs); i++) samples.push(await once(i));
samples.sort((a, b) => a - b);
const median = samples.length % 2 ? samples[samples.length >> 1] : (samples[samples.length / 2 - 1] + samples[samples.length / 2]) / 2;
console.log(`cvm agent, seed example (every [cernvm] key), --root on tmpfs\n  median ${median.toFixed(1)} ms  min ${samples[0].toFixed(1)}  max ${samples[samples.length - 1].toFixed(1)}  (n=${samples.length})`);
TS
$bun "$work/time.ts" "$PWD/dist/cvm" "$tpl" "$work/user-data" "$work" "$runs"

# cloud-init's start-up, for comparison (Debian 12 has 22.4.2)
if ! command -v cloud-init >/dev/null 2>&1; then
  echo "installing Debian's cloud-init for the comparison" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends cloud-init >/dev/null
fi
echo "cloud-init $(cloud-init --version 2>&1 | awk '{print $NF}')"
$bun bench/lib/time.ts --runs 10 --warmup 1 -- cloud-init --version
