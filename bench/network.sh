#!/usr/bin/env bash
# Berth vs dockerd networking, in one run on this machine:
#   - what the default bridge adds to `run --rm IMG true` over `--network none` (median of N runs);
#   - TCP throughput from the host through a published port on 127.0.0.1 (both engines' userland
#     proxies), and through the bridge address (DNAT), into `nc -l` in a container.
# Targets (issue 7): the bridge adds <= 10 ms; published-port throughput >= 1x dockerd's.
# Needs root. Each engine gets its own data root, socket, bridge and subnet; dockerd's bridge and
# iptables chains are removed at the end. Traffic stays on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-30}
MB=${MB:-1024}

command -v dockerd >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null; }
command -v busybox >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null; }
cargo build --release --locked -p berth-cli >/dev/null
BERTH=$PWD/target/release/berth

W=$(mktemp -d /tmp/berth-netbench.XXXXXX)
cleanup() {
  [ -n "${BPID:-}" ] && { BERTH_HOST=unix://$W/berth.sock "$BERTH" rm -f $(BERTH_HOST=unix://$W/berth.sock "$BERTH" ps -aq) >/dev/null 2>&1 || true; kill "$BPID" 2>/dev/null; wait "$BPID" 2>/dev/null || true; }
  [ -n "${DPID:-}" ] && { DOCKER_HOST=unix://$W/docker.sock docker rm -f $(DOCKER_HOST=unix://$W/docker.sock docker ps -aq) >/dev/null 2>&1 || true; kill "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null || true; }
  ip link del bdocker0 2>/dev/null || true
  for t in filter nat; do
    iptables -w -t $t -S 2>/dev/null | grep -E -- '-j DOCKER|-A FORWARD -o bdocker0|-A FORWARD -i bdocker0' | sed 's/^-A/-D/' | while read -r r; do eval iptables -w -t $t $r 2>/dev/null || true; done
    for c in $(iptables -w -t $t -S 2>/dev/null | awk '/^-N DOCKER/ {print $2}'); do iptables -w -t $t -F "$c" 2>/dev/null || true; done
    for c in $(iptables -w -t $t -S 2>/dev/null | awk '/^-N DOCKER/ {print $2}'); do iptables -w -t $t -X "$c" 2>/dev/null || true; done
  done
  iptables -w -P FORWARD ACCEPT 2>/dev/null || true
  umount -R "$W/docker" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

mkdir -p "$W/rootfs/bin"
cp "$(command -v busybox)" "$W/rootfs/bin/busybox"
for a in sh nc true cat; do ln -s busybox "$W/rootfs/bin/$a"; done
tar -C "$W/rootfs" -czf "$W/rootfs.tar.gz" .

ip link add bdocker0 type bridge
ip addr add 10.197.0.1/24 dev bdocker0
ip link set bdocker0 up
"$BERTH" daemon --data-root "$W/berth" -H "unix://$W/berth.sock" --bridge bberth0 --bip 10.196.0.1/24 \
  --default-address-pool base=10.196.0.0/16,size=24 --log-level warn >"$W/berth.log" 2>&1 &
BPID=$!
dockerd --data-root "$W/docker" --exec-root "$W/docker-exec" --pidfile "$W/docker.pid" -H "unix://$W/docker.sock" \
  --bridge=bdocker0 --containerd-namespace berth-netbench --containerd-plugins-namespace berth-netbench-plugins >"$W/dockerd.log" 2>&1 &
DPID=$!
for _ in $(seq 300); do
  [ -S "$W/berth.sock" ] && [ -S "$W/docker.sock" ] && DOCKER_HOST=unix://$W/docker.sock docker version >/dev/null 2>&1 && break
  sleep 0.1
done
BH="env BERTH_HOST=unix://$W/berth.sock"
DH="env DOCKER_HOST=unix://$W/docker.sock"
$BH "$BERTH" import "$W/rootfs.tar.gz" nb:1 >/dev/null
$DH docker import "$W/rootfs.tar.gz" nb:1 >/dev/null

echo "run --rm true, $N times each, with and without the bridge..."
$DH docker run --rm nb:1 /bin/true >/dev/null
$BH "$BERTH" run --rm nb:1 /bin/true >/dev/null
python3 bench/timeit.py "$N" $BH "$BERTH" run --rm --network none nb:1 /bin/true >"$W/b-none.json"
python3 bench/timeit.py "$N" $BH "$BERTH" run --rm nb:1 /bin/true >"$W/b-bridge.json"
python3 bench/timeit.py "$N" $DH docker run --rm --network none nb:1 /bin/true >"$W/d-none.json"
python3 bench/timeit.py "$N" $DH docker run --rm nb:1 /bin/true >"$W/d-bridge.json"

# Throughput: a sink in the container, the host sends MB megabytes through the published port.
sink() { # engine-cmd name port
  "$@" run -d --name sink -p "$PORT:5001" nb:1 sh -c 'while true; do nc -l -p 5001 >/dev/null; done' >/dev/null
}
send() { # addr port -> seconds
  python3 - "$1" "$2" "$MB" <<'PY'
import socket, sys, time
host, port, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
buf = b"\0" * (1 << 20)
for attempt in range(50):
    try:
        s = socket.create_connection((host, port), timeout=5)
        break
    except OSError:
        time.sleep(0.1)
t = time.perf_counter()
for _ in range(mb):
    s.sendall(buf)
s.shutdown(socket.SHUT_WR)
s.settimeout(60)
while s.recv(65536):
    pass
print(time.perf_counter() - t)
PY
}
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
sink $BH "$BERTH"
sleep 0.5
B_LO=$(send 127.0.0.1 "$PORT"); B_BR=$(send 10.196.0.1 "$PORT")
$BH "$BERTH" rm -f sink >/dev/null
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
sink $DH docker
sleep 0.5
D_LO=$(send 127.0.0.1 "$PORT"); D_BR=$(send 10.197.0.1 "$PORT")
$DH docker rm -f sink >/dev/null

python3 - "$W" "$MB" "$B_LO" "$B_BR" "$D_LO" "$D_BR" <<'PY'
import json, sys
w, mb = sys.argv[1], int(sys.argv[2])
b_lo, b_br, d_lo, d_br = map(float, sys.argv[3:7])
def m(n): return json.load(open(f"{w}/{n}.json"))["median_ms"]
bn, bb, dn, db = m("b-none"), m("b-bridge"), m("d-none"), m("d-bridge")
print(f"\n{'run --rm IMG true (median ms)':<36}{'berth':>10}{'dockerd':>10}{'ratio':>8}")
print(f"{'--network none':<36}{bn:>10.1f}{dn:>10.1f}{bn / dn:>8.2f}")
print(f"{'default bridge':<36}{bb:>10.1f}{db:>10.1f}{bb / db:>8.2f}")
print(f"{'added by the bridge':<36}{bb - bn:>10.1f}{db - dn:>10.1f}")
print(f"\n{'published port throughput (MB/s)':<36}{'berth':>10}{'dockerd':>10}{'ratio':>8}")
print(f"{'host -> 127.0.0.1:PORT (proxy)':<36}{mb / b_lo:>10.0f}{mb / d_lo:>10.0f}{d_lo / b_lo:>8.2f}x")
print(f"{'host -> bridge-ip:PORT':<36}{mb / b_br:>10.0f}{mb / d_br:>10.0f}{d_br / b_br:>8.2f}x")
print("\ntargets: bridge adds <= 10 ms" + (" (met)" if bb - bn <= 10 else " (MISSED)") +
      "; published-port throughput >= 1x dockerd" + (" (met)" if d_lo >= b_lo else " (MISSED)"))
PY
