#!/usr/bin/env bash
# Berth vs dockerd, in one run on this machine: API round-trip latency on one kept-open connection
# (/_ping, /version, /images/json with 100 images) and daemon idle RSS. Prints a table with ratios
# (berth / docker: below 1.0 means Berth is faster or smaller).
#
# Targets (issue 2): idle RSS <= 15 MB; every listed call <= dockerd's.
# Needs root. Installs Debian's docker.io if dockerd is missing; dockerd runs on its own data root,
# exec root and socket with no bridge and no iptables changes, and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}
IMAGES=${IMAGES:-100}

command -v dockerd >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null; }
command -v busybox >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null; }
cargo build --release --locked -p berth-cli >/dev/null
BERTH=$PWD/target/release/berth

W=$(mktemp -d /tmp/berth-bench.XXXXXX)
cleanup() {
  [ -n "${BPID:-}" ] && kill "$BPID" 2>/dev/null && wait "$BPID" 2>/dev/null || true
  [ -n "${DPID:-}" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true
  umount -R "$W/docker" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

# The same rootfs for both engines: the host's busybox-static.
mkdir -p "$W/rootfs/bin"
cp "$(command -v busybox)" "$W/rootfs/bin/busybox"
tar -C "$W/rootfs" -czf "$W/rootfs.tar.gz" .

"$BERTH" daemon --data-root "$W/berth" -H "unix://$W/berth.sock" --log-level warn >"$W/berth.log" 2>&1 &
BPID=$!
dockerd --data-root "$W/docker" --exec-root "$W/docker-exec" --pidfile "$W/docker.pid" -H "unix://$W/docker.sock" \
  --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
  --containerd-namespace berth-bench --containerd-plugins-namespace berth-bench-plugins >"$W/dockerd.log" 2>&1 &
DPID=$!
for _ in $(seq 300); do
  [ -S "$W/berth.sock" ] && [ -S "$W/docker.sock" ] && DOCKER_HOST=unix://$W/docker.sock docker version >/dev/null 2>&1 && break
  sleep 0.1
done

echo "importing $IMAGES images into each engine..."
for i in $(seq "$IMAGES"); do
  BERTH_HOST=unix://$W/berth.sock "$BERTH" import -c "LABEL n=$i" "$W/rootfs.tar.gz" "bench/img:$i" >/dev/null
  DOCKER_HOST=unix://$W/docker.sock docker import -c "LABEL n=$i" "$W/rootfs.tar.gz" "bench/img:$i" >/dev/null
done

paths=(/_ping /version /images/json)
python3 bench/api_latency.py "$W/berth.sock" "$N" "${paths[@]}" >"$W/berth.json"
python3 bench/api_latency.py "$W/docker.sock" "$N" "${paths[@]}" >"$W/docker.json"
sleep 2
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
B_RSS=$(rss_kb "$BPID")
D_RSS=$(rss_kb "$DPID")
for c in $(pgrep -f "containerd --config $W/docker-exec" || true) $(pgrep -P "$DPID" containerd || true); do
  D_RSS=$((D_RSS + $(rss_kb "$c")))
done

python3 - "$W/berth.json" "$W/docker.json" "$B_RSS" "$D_RSS" "$IMAGES" <<'PY'
import json, sys
b = [json.loads(l) for l in open(sys.argv[1])]
d = [json.loads(l) for l in open(sys.argv[2])]
print(f"\nBerth vs dockerd ({b[0]['n']} requests per call, one kept-open connection, {sys.argv[5]} images)\n")
print(f"{'metric':<28}{'berth':>12}{'dockerd':>12}{'ratio':>8}")
for x, y in zip(b, d):
    for k in ("p50_us", "mean_us", "p99_us"):
        print(f"{x['path'] + ' ' + k:<28}{x[k]:>12.1f}{y[k]:>12.1f}{x[k] / y[k]:>8.2f}")
br, dr = int(sys.argv[3]), int(sys.argv[4])
print(f"{'idle RSS (MB)':<28}{br / 1024:>12.1f}{dr / 1024:>12.1f}{br / max(dr, 1):>8.2f}")
print("\ntargets: idle RSS <= 15 MB" + (" (met)" if br / 1024 <= 15 else " (MISSED)") +
      "; every call <= dockerd" + (" (met)" if all(x['mean_us'] <= y['mean_us'] for x, y in zip(b, d)) else " (MISSED)"))
PY
