# What the bench scripts share (sourced, not run): the tools they need, the berth binary, a work
# directory with a cleanup trap, and Berth and dockerd daemons each on its own data root, socket
# and bridge, so a bench never touches another daemon on the machine.
#
#   bench_init PREFIX        tools, $BERTH (a release build of this tree unless BERTH is set), $W
#                            (a fresh work dir) and the EXIT trap that stops and removes everything
#   bench_rootfs             $W/rootfs.tar.gz: the host's busybox-static as /bin/busybox
#   start_berth BRIDGE BIP POOL [ARGS...]
#                            `berth daemon` on $W/berth (socket $W/berth.sock) with its own default
#                            bridge, its address and the pool of user networks; sets BPID, BSOCK, BH
#   start_dockerd NAME       dockerd on $W/docker (socket $W/docker.sock), no bridge and no
#                            iptables changes, its containerd in namespace NAME; sets DPID, DSOCK, DH
#   start_registry           `berth registry` on a free loopback port; sets RPID, RPORT
#   wait_daemons             until every daemon started answers
#
# On exit (also on failure or ^C) the trap removes every container each daemon still has, stops
# the daemons and the registry, kills any shim left under $W, unmounts what dockerd left and
# deletes $W. Berth's clean shutdown removes its bridge and firewall chains.

bench_init() {
  command -v dockerd >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null; }
  command -v busybox >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null; }
  if [ -z "${BERTH:-}" ]; then
    cargo build --release --locked -p berth-cli >/dev/null
    BERTH=$PWD/target/release/berth
  fi
  W=$(mktemp -d "/tmp/$1.XXXXXX")
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_rootfs() {
  mkdir -p "$W/rootfs/bin"
  cp "$(command -v busybox)" "$W/rootfs/bin/busybox"
  tar -C "$W/rootfs" -czf "$W/rootfs.tar.gz" .
}

start_berth() {
  local bridge=$1 bip=$2 pool=$3
  shift 3
  BSOCK=$W/berth.sock
  # Each daemon in a session of its own, as a service manager starts it (the kernel's autogroups
  # share the CPU among sessions; neither shares one with the load's clients).
  setsid "$BERTH" daemon --data-root "$W/berth" -H "unix://$BSOCK" --bridge "$bridge" --bip "$bip" \
    --default-address-pool "base=$pool,size=24" --log-level warn "$@" >"$W/berth.log" 2>&1 &
  BPID=$!
  BH="env BERTH_HOST=unix://$BSOCK"
}

start_dockerd() {
  DSOCK=$W/docker.sock
  setsid dockerd --data-root "$W/docker" --exec-root "$W/docker-exec" --pidfile "$W/docker.pid" -H "unix://$DSOCK" \
    --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --containerd-namespace "$1" --containerd-plugins-namespace "$1-plugins" >"$W/dockerd.log" 2>&1 &
  DPID=$!
  DH="env DOCKER_HOST=unix://$DSOCK"
}

start_registry() {
  RPORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  "$BERTH" registry --listen "127.0.0.1:$RPORT" --root "$W/registry" --log-level warn >"$W/registry.log" 2>&1 &
  RPID=$!
}

wait_daemons() {
  for _ in $(seq 300); do
    if { [ -z "${BPID:-}" ] || [ -S "$W/berth.sock" ]; } && { [ -z "${DPID:-}" ] || $DH docker version >/dev/null 2>&1; }; then
      return 0
    fi
    sleep 0.1
  done
  echo "the daemons did not come up (see $W/berth.log, $W/dockerd.log)" >&2
  return 1
}

# remove_all_containers SOCKET: every container of the daemon on SOCKET, force-removed (8 at once).
remove_all_containers() {
  [ -S "$1" ] || return 0
  python3 - "$1" <<'PY' || true
import json, sys, threading
sys.path.insert(0, "bench")
from load import Client
sock = sys.argv[1]
try:
    ids = [c["Id"] for c in json.loads(Client(sock).call("GET", "/containers/json?all=1"))]
except Exception:
    sys.exit(0)
def worker(part):
    c = Client(sock)
    for i in part:
        try:
            c.call("DELETE", f"/containers/{i}?force=1", expect=(204, 404, 409))
        except Exception:
            c = Client(sock)
ts = [threading.Thread(target=worker, args=(ids[k::8],)) for k in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
PY
}

# stop_pid PID [SECONDS]: SIGTERM, then SIGKILL after SECONDS (20) if it is still there.
stop_pid() {
  local pid=$1 secs=${2:-20}
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq $((secs * 10))); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

bench_cleanup() {
  set +e
  [ -n "${W:-}" ] || return 0
  if [ -n "${BPID:-}" ]; then remove_all_containers "$W/berth.sock"; stop_pid "$BPID"; fi
  if [ -n "${DPID:-}" ]; then remove_all_containers "$W/docker.sock"; stop_pid "$DPID" 60; fi
  [ -n "${RPID:-}" ] && stop_pid "$RPID"
  # Shims (and their containers) that outlived a daemon that could not remove them: only this
  # run's, by their command line naming $W.
  for p in $(pgrep -f "shim.*$W/" || true); do kill -9 "$p" 2>/dev/null; done
  umount -R "$W/docker" 2>/dev/null
  umount -R "$W/docker-exec" 2>/dev/null
  rm -rf "$W"
}

# For scripts that need only the registry (bench/registry/run.sh):
#   berth_release            prints the release `berth` ($BERTH_BIN if set, else built here once)
#   wait_registry ADDR       until http://ADDR/v2/ answers (10 s)
#   need_pkgs CMD:PKG ...    installs the Debian packages whose commands are missing
berth_release() {
  if [ -n "${BERTH_BIN:-}" ]; then
    echo "$BERTH_BIN"
    return
  fi
  local repo
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  (cd "$repo" && cargo build --release --locked -q -p berth-cli --bins >&2)
  echo "${CARGO_TARGET_DIR:-$repo/target}/release/berth"
}

wait_registry() {
  local addr=$1 i
  for i in $(seq 100); do
    curl -fsS -o /dev/null "http://$addr/v2/" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "registry at $addr did not start" >&2
  return 1
}

need_pkgs() {
  local missing=() spec
  for spec in "$@"; do
    command -v "${spec%%:*}" >/dev/null || missing+=("${spec#*:}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}
