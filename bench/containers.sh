#!/usr/bin/env bash
# Container starts, in one run on this machine, on the same busybox rootfs, all with --network none:
#   - `run --rm IMG true` through berth, the docker CLI against Berth, dockerd, and podman;
#   - `runc run` of the same rootfs as the floor (no image store, no API, no shim);
#   - 20 containers started in parallel (`run -d … sleep`), wall time until all run.
# Target (issue 3): berth's median <= 40 ms. Needs root; installs Debian's docker.io, podman and runc
# if missing. Every engine gets its own root and socket under a temp dir, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-20}
P=${P:-20}

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
command -v busybox >/dev/null || need+=(busybox-static)
[ ${#need[@]} -gt 0 ] && { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
cargo build --release --locked -p berth-cli >/dev/null
BERTH=$PWD/target/release/berth

W=$(mktemp -d /tmp/berth-ctrbench.XXXXXX)
PODMAN=(podman --root "$W/podman" --runroot "$W/podman-run" --storage-driver overlay --cgroup-manager cgroupfs --events-backend none)
cleanup() {
  [ -n "${BPID:-}" ] && { BERTH_HOST=unix://$W/berth.sock "$BERTH" rm -f $(BERTH_HOST=unix://$W/berth.sock "$BERTH" ps -aq) >/dev/null 2>&1 || true; kill "$BPID" 2>/dev/null; wait "$BPID" 2>/dev/null || true; }
  [ -n "${DPID:-}" ] && { DOCKER_HOST=unix://$W/docker.sock docker rm -f $(DOCKER_HOST=unix://$W/docker.sock docker ps -aq) >/dev/null 2>&1 || true; kill "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null || true; }
  "${PODMAN[@]}" rm -af >/dev/null 2>&1 || true
  "${PODMAN[@]}" system reset -f >/dev/null 2>&1 || true
  runc --root "$W/runc-state" delete -f floor >/dev/null 2>&1 || true
  umount -R "$W/docker" "$W/podman" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

mkdir -p "$W/rootfs/bin"
cp "$(command -v busybox)" "$W/rootfs/bin/busybox"
for a in sh true sleep; do ln -s busybox "$W/rootfs/bin/$a"; done
tar -C "$W/rootfs" -czf "$W/rootfs.tar.gz" .

"$BERTH" daemon --data-root "$W/berth" -H "unix://$W/berth.sock" --bridge bcb0 --bip 10.195.0.1/24 --log-level warn >"$W/berth.log" 2>&1 &
BPID=$!
dockerd --data-root "$W/docker" --exec-root "$W/docker-exec" --pidfile "$W/docker.pid" -H "unix://$W/docker.sock" \
  --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
  --containerd-namespace berth-ctrbench --containerd-plugins-namespace berth-ctrbench-plugins >"$W/dockerd.log" 2>&1 &
DPID=$!
for _ in $(seq 300); do
  [ -S "$W/berth.sock" ] && [ -S "$W/docker.sock" ] && DOCKER_HOST=unix://$W/docker.sock docker version >/dev/null 2>&1 && break
  sleep 0.1
done
BH="env BERTH_HOST=unix://$W/berth.sock"
DBH="env DOCKER_HOST=unix://$W/berth.sock"
DH="env DOCKER_HOST=unix://$W/docker.sock"
$BH "$BERTH" import "$W/rootfs.tar.gz" cb:1 >/dev/null
$DH docker import "$W/rootfs.tar.gz" cb:1 >/dev/null
HAVE_PODMAN=0
if "${PODMAN[@]}" import "$W/rootfs.tar.gz" cb:1 >/dev/null 2>"$W/podman.err" && "${PODMAN[@]}" run --rm --network none cb:1 /bin/true >/dev/null 2>>"$W/podman.err"; then
  HAVE_PODMAN=1
fi

# The floor: runc alone on an unpacked bundle.
mkdir -p "$W/bundle/rootfs" "$W/runc-state"
tar -C "$W/bundle/rootfs" -xzf "$W/rootfs.tar.gz"
(cd "$W/bundle" && runc spec && python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
json.dump(c, open("config.json", "w"))
PY
)

t() { python3 bench/timeit.py "$N" "$@"; }
$BH "$BERTH" run --rm --network none cb:1 /bin/true >/dev/null
t $BH "$BERTH" run --rm --network none cb:1 /bin/true >"$W/berth.json"
t $DBH docker run --rm --network none cb:1 /bin/true >"$W/docker-on-berth.json"
t $DH docker run --rm --network none cb:1 /bin/true >"$W/dockerd.json"
if [ $HAVE_PODMAN = 1 ]; then t "${PODMAN[@]}" run --rm --network none cb:1 /bin/true >"$W/podman.json"; fi
t runc --root "$W/runc-state" run --bundle "$W/bundle" floor >"$W/runc.json"

par() { # name engine-cmd... : starts $P containers at once, prints the wall time in ms
  python3 - "$P" "$@" <<'PY'
import subprocess, sys, time
n, cmd = int(sys.argv[1]), sys.argv[2:]
t = time.perf_counter()
ps = [subprocess.Popen(cmd + ["run", "-d", "--network", "none", "cb:1", "/bin/sleep", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(n)]
bad = [p for p in ps if p.wait() != 0]
if bad:
    sys.exit(bad[0].stderr.read().decode()[:300])
print((time.perf_counter() - t) * 1000)
PY
}
B_PAR=$(par $BH "$BERTH")
$BH "$BERTH" rm -f $($BH "$BERTH" ps -aq) >/dev/null
D_PAR=$(par $DH docker)
$DH docker rm -f $($DH docker ps -aq) >/dev/null

python3 - "$W" "$B_PAR" "$D_PAR" "$HAVE_PODMAN" "$P" <<'PY'
import json, os, sys
w, bpar, dpar, podman, p = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1", sys.argv[5]
def m(n): return json.load(open(f"{w}/{n}.json"))["median_ms"]
b = m("berth")
print(f"\n{'run --rm IMG true, --network none':<40}{'median ms':>10}{'vs berth':>10}")
rows = [("berth run (Berth)", "berth"), ("docker run (CLI against Berth)", "docker-on-berth"), ("docker run (dockerd)", "dockerd")]
if podman:
    rows.append(("podman run", "podman"))
rows.append(("runc run (floor, no engine)", "runc"))
for label, key in rows:
    v = m(key)
    print(f"{label:<40}{v:>10.1f}{v / b:>10.2f}")
if not podman:
    err = open(f"{w}/podman.err").read().strip().splitlines()
    print("podman: did not run here: " + (err[-1][:200] if err else "unknown error"))
print(f"\n{p + ' parallel run -d (wall ms)':<40}{'berth':>10}{'dockerd':>10}{'ratio':>8}")
print(f"{'':<40}{bpar:>10.0f}{dpar:>10.0f}{bpar / dpar:>8.2f}")
print("\ntarget: berth run --rm true <= 40 ms" + (" (met)" if b <= 40 else " (MISSED)"))
PY
