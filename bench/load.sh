#!/usr/bin/env bash
# Load and soak: Berth vs dockerd in one run on this machine (issue 15, item 4).
#
#  1. Mixed load: CLIENTS (32) concurrent API clients for DURATION seconds (60), each picking ps,
#     inspect, logs --tail 100, stats (one-shot), exec (attached), run --rm (create, start, wait,
#     remove) and pull from a local `berth registry`, while a probe times /_ping and
#     /containers/json ten times a second. Prints ops/s, errors, per-operation p50/p99 and the probes'
#     p50/p99 (goal p99 <= 5 ms), with ratios berth / dockerd (below 1.0: Berth is faster).
#  2. Many containers: MANY (1000) containers created (8 clients), `ps -a` timed over them, the
#     daemon's RSS with them, then all removed.
#  3. Soak: with SOAK=SECONDS (e.g. 1800; 0 skips it), the mixed load again for that long, then the
#     daemon's RSS, fds and threads sampled before the load, at its end and after 30 s idle: they must
#     come back down (no leak).
#
# Needs root. Installs Debian's docker.io if dockerd is missing. dockerd runs on its own data root,
# exec root and socket with no bridge and no iptables changes, as bench/run.sh starts it; both daemons
# and the registry are stopped at the end. BERTH=path uses a given berth binary (default: a release
# build of this tree).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-60}
CLIENTS=${CLIENTS:-32}
MANY=${MANY:-1000}
SOAK=${SOAK:-0}

command -v dockerd >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null; }
command -v busybox >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null; }
if [ -z "${BERTH:-}" ]; then
  cargo build --release --locked -p berth-cli >/dev/null
  BERTH=$PWD/target/release/berth
fi

W=$(mktemp -d /tmp/berth-load.XXXXXX)
cleanup() {
  for p in "${BPID:-}" "${DPID:-}" "${RPID:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
  umount -R "$W/docker" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

mkdir -p "$W/rootfs/bin"
cp "$(command -v busybox)" "$W/rootfs/bin/busybox"
tar -C "$W/rootfs" -czf "$W/rootfs.tar.gz" .

"$BERTH" daemon --data-root "$W/berth" -H "unix://$W/berth.sock" --bridge bload0 --bip 192.168.250.1/24 --default-address-pool base=192.168.251.0/24,size=24 --log-level warn >"$W/berth.log" 2>&1 &
BPID=$!
dockerd --data-root "$W/docker" --exec-root "$W/docker-exec" --pidfile "$W/docker.pid" -H "unix://$W/docker.sock" \
  --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
  --containerd-namespace berth-load --containerd-plugins-namespace berth-load-plugins >"$W/dockerd.log" 2>&1 &
DPID=$!
RPORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$BERTH" registry --listen 127.0.0.1:$RPORT --root "$W/registry" --log-level warn >"$W/registry.log" 2>&1 &
RPID=$!
for _ in $(seq 300); do
  [ -S "$W/berth.sock" ] && [ -S "$W/docker.sock" ] && DOCKER_HOST=unix://$W/docker.sock docker version >/dev/null 2>&1 && break
  sleep 0.1
done
BH="env BERTH_HOST=unix://$W/berth.sock"
DH="env DOCKER_HOST=unix://$W/docker.sock"
$BH "$BERTH" import "$W/rootfs.tar.gz" bench/img:1 >/dev/null
$DH docker import "$W/rootfs.tar.gz" bench/img:1 >/dev/null
# The image every pull fetches: pushed once to the local registry.
$BH "$BERTH" tag bench/img:1 127.0.0.1:$RPORT/bench/pull:1
$BH "$BERTH" push 127.0.0.1:$RPORT/bench/pull:1 >/dev/null
$BH "$BERTH" rmi 127.0.0.1:$RPORT/bench/pull:1 >/dev/null

sample() { python3 -c "import sys, json; sys.path.insert(0, 'bench'); from load import proc_sample; print(json.dumps(proc_sample($1)))"; }

for e in berth docker; do
  if [ $e = berth ]; then pid=$BPID; else pid=$DPID; fi
  echo "mixed load on $e: $CLIENTS clients, ${DURATION}s..." >&2
  python3 bench/load.py "$W/$e.sock" "$DURATION" "$CLIENTS" bench/img:1 "127.0.0.1:$RPORT/bench/pull:1" "$pid" >"$W/load-$e.json"
  echo "$MANY containers on $e..." >&2
  python3 bench/many.py "$W/$e.sock" "$MANY" bench/img:1 "$pid" >"$W/many-$e.json"
  if [ "$SOAK" -gt 0 ]; then
    echo "soak on $e: ${SOAK}s..." >&2
    sample "$pid" >"$W/soak-$e-before.json"
    python3 bench/load.py "$W/$e.sock" "$SOAK" "$CLIENTS" bench/img:1 "127.0.0.1:$RPORT/bench/pull:1" "$pid" >"$W/soak-$e.json"
    sample "$pid" >"$W/soak-$e-end.json"
    sleep 30
    sample "$pid" >"$W/soak-$e-idle.json"
  fi
done

python3 - "$W" "$SOAK" <<'PY'
import json, sys
w, soak = sys.argv[1], int(sys.argv[2])
j = lambda n: json.load(open(f"{w}/{n}.json"))
lb, ld = j("load-berth"), j("load-docker")
print(f"\nMixed load: {lb['clients']} clients, {lb['elapsed_s']:.0f} s per engine (ratio = berth / dockerd)\n")
print(f"{'metric':<34}{'berth':>10}{'dockerd':>10}{'ratio':>8}")
row = lambda name, b, d, f="{:>10.1f}": print(f"{name:<34}" + f.format(b) + f.format(d) + f"{b / d if d else float('nan'):>8.2f}")
row("operations per second", lb["ops_per_s"], ld["ops_per_s"])
print(f"{'errors':<34}{lb['errors']:>10}{ld['errors']:>10}")
for k in ("_ping", "containers_json"):
    for p in ("p50_ms", "p99_ms"):
        row(f"/{k.replace('_json', '/json')} during load {p}", lb["probes"][k][p], ld["probes"][k][p], "{:>10.2f}")
for op in lb["ops"]:
    for p in ("p50_ms", "p99_ms"):
        row(f"{op} {p}", lb["ops"][op][p], ld["ops"][op][p], "{:>10.1f}")
    print(f"{op + ' count / errors':<34}{str(lb['ops'][op]['n']) + '/' + str(lb['ops'][op]['errors']):>10}{str(ld['ops'][op]['n']) + '/' + str(ld['ops'][op]['errors']):>10}")
for e, l in (("berth", lb), ("dockerd", ld)):
    for op, msg in l["first_errors"].items():
        print(f"  {e} {op} error: {msg}")
mb, md = j("many-berth"), j("many-docker")
print(f"\n{mb['n']} containers (created, not started)\n")
print(f"{'metric':<34}{'berth':>10}{'dockerd':>10}{'ratio':>8}")
row("create all (s)", mb["create_s"], md["create_s"], "{:>10.2f}")
row("ps -a p50 (ms)", mb["ps_a_p50_ms"], md["ps_a_p50_ms"])
row("ps -a p99 (ms)", mb["ps_a_p99_ms"], md["ps_a_p99_ms"])
row("daemon RSS with them (MB)", mb["rss_mb"], md["rss_mb"])
row("remove all (s)", mb["remove_s"], md["remove_s"], "{:>10.2f}")
print(f"{'errors':<34}{mb['errors']:>10}{md['errors']:>10}")
ok = lb["errors"] == 0 and lb["probes"]["_ping"]["p99_ms"] <= 5 and lb["probes"]["containers_json"]["p99_ms"] <= 5 and mb["ps_a_p50_ms"] <= 50
print("\ngoals: 0 errors, /_ping and /containers/json p99 <= 5 ms under load, ps -a <= 50 ms over 1,000: " + ("met" if ok else "MISSED"))
if soak:
    print(f"\nSoak: {soak} s of the mixed load; daemon before / at the end / after 30 s idle\n")
    for e in ("berth", "docker"):
        s = [j(f"soak-{e}-{k}") for k in ("before", "end", "idle")]
        rss = " / ".join("%.1f" % (x["rss_kb"] / 1024) for x in s)
        fds = " / ".join(str(x["fds"]) for x in s)
        thr = " / ".join(str(x["threads"]) for x in s)
        print(f"{e:<8} RSS MB {rss}   fds {fds}   threads {thr}   errors {j('soak-' + e)['errors']}")
PY
