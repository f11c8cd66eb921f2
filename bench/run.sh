#!/usr/bin/env bash
# Berth vs dockerd, in one run on this machine: API round-trip latency on one kept-open connection
# (/_ping, /version, /images/json with 100 images), daemon idle RSS, `run --rm IMG true` end to end
# (both with --network none), shim RSS per running container, and builds (cold, cached, one COPY
# source touched; a small Dockerfile and a 5-stage one), push/pull throughput through `berth registry`. Prints tables with ratios (berth / docker: below 1.0 means Berth is faster or smaller).
#
# Targets: idle RSS <= 15 MB and every API call <= dockerd's (issue 2); run --rm true median <= 40 ms and
# shim RSS <= 3 MB (issue 3); cold build <= 0.5x dockerd's classic builder, cached rebuild <= 50 ms (issue 4);
# push >= 3x and pull >= 2x dockerd's throughput (issue 6).
# Needs root. Installs Debian's docker.io if dockerd is missing; each daemon runs on its own data
# root, socket (and, for Berth, bridge) as bench/lib.sh starts them, and is stopped at the end.
# BERTH=path uses a given berth binary (default: a release build of this tree).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}
IMAGES=${IMAGES:-100}

. bench/lib.sh
bench_init berth-bench
# The same rootfs for both engines: the host's busybox-static.
bench_rootfs
start_berth bbench0 10.197.0.1/24 10.197.1.0/24
start_dockerd berth-bench
wait_daemons

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

# Containers: run --rm true, and the RSS of one running container's shim.
BB="bench/img:1"
DOCKER_HOST=unix://$W/docker.sock docker run --rm --network none "$BB" /bin/busybox true >/dev/null 2>&1 || true
python3 bench/timeit.py 20 env BERTH_HOST=unix://$W/berth.sock "$BERTH" run --rm --network none "$BB" /bin/busybox true >"$W/run-berth.json"
python3 bench/timeit.py 20 env DOCKER_HOST=unix://$W/docker.sock docker run --rm --network none "$BB" /bin/busybox true >"$W/run-docker.json"
# Shim memory per running container: PSS (shared pages split among the processes that map them) of
# the shims of 4 running containers, averaged; RSS of one as well.
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
for i in 1 2 3 4; do BERTH_HOST=unix://$W/berth.sock "$BERTH" run -d --network none --name rss$i "$BB" /bin/busybox sleep 60 >/dev/null; done
sleep 1
SHIM_RSS=0; SHIM_PSS=0
# Only this run's shims: other daemons on the machine may have containers too.
for p in $(pgrep -f "berth.shim --id .*$W/"); do SHIM_RSS=$(rss_kb "$p"); SHIM_PSS=$((SHIM_PSS + $(pss_kb "$p"))); done
SHIM_PSS=$((SHIM_PSS / 4))
BERTH_HOST=unix://$W/berth.sock "$BERTH" rm -f rss1 rss2 rss3 rss4 >/dev/null
for i in 1 2 3 4; do DOCKER_HOST=unix://$W/docker.sock docker run -d --network none --name rss$i "$BB" /bin/busybox sleep 60 >/dev/null; done
sleep 1
DSHIM_RSS=0; DSHIM_PSS=0
for p in $(pgrep -f "containerd-shim.*$W/"); do DSHIM_RSS=$(rss_kb "$p"); DSHIM_PSS=$((DSHIM_PSS + $(pss_kb "$p"))); done
DSHIM_PSS=$((DSHIM_PSS / 4))
DOCKER_HOST=unix://$W/docker.sock docker rm -f rss1 rss2 rss3 rss4 >/dev/null

# Builds: FROM the imported busybox, RUN, COPY 10 MB, ENV, CMD.
CTX=$W/ctx
mkdir -p "$CTX"
head -c 10000000 /dev/urandom > "$CTX/blob"
printf 'FROM bench/img:1\nRUN ["/bin/busybox", "sh", "-c", "echo built > /built"]\nCOPY blob /blob\nENV A=1\nCMD ["/bin/busybox", "cat", "/built"]\n' > "$CTX/Dockerfile"
bt() { python3 bench/timeit.py 1 "$@"; }
# build_times NAME TAG CTX RUNS: one build timed per engine ($W/NAME-berth.json, $W/NAME-docker.json).
build_times() {
  python3 bench/timeit.py "$4" env BERTH_HOST=unix://$W/berth.sock "$BERTH" build -q -t "$2" "$3" >"$W/$1-berth.json"
  python3 bench/timeit.py "$4" env DOCKER_HOST=unix://$W/docker.sock docker build -q -t "$2" "$3" >"$W/$1-docker.json"
}
build_times build-cold b:1 "$CTX" 1
build_times build-cached b:1 "$CTX" 5
head -c 10000000 /dev/urandom > "$CTX/blob"
build_times build-touch b:1 "$CTX" 1

# A 5-stage build: three independent stages (Berth builds them at once), one on top of another, and a
# final stage that collects their results.
MS=$W/ms
mkdir -p "$MS/src"
# This one runs shell scripts: the BusyBox rootfs that scripts/fixtures.sh makes, with every applet linked.
BBROOT=$(bash scripts/fixtures.sh busybox)
env BERTH_HOST=unix://$W/berth.sock "$BERTH" import "$BBROOT" bench/bb:1 >/dev/null
env DOCKER_HOST=unix://$W/docker.sock docker import "$BBROOT" bench/bb:1 >/dev/null
for i in $(seq 1 50); do head -c 20000 /dev/urandom > "$MS/src/f$i"; done
cat > "$MS/Dockerfile" <<'DF'
FROM bench/bb:1 AS deps
RUN mkdir /deps && for i in $(seq 1 300); do echo "dependency $i" > /deps/$i; done
FROM bench/bb:1 AS gen
COPY src /src
RUN sha256sum /src/* > /gen.sum && tar -cf /src.tar /src
FROM bench/bb:1 AS assets
RUN dd if=/dev/zero of=/assets bs=1M count=8 2>/dev/null && gzip -1 /assets
FROM deps AS build
COPY --from=gen /gen.sum /build/
RUN cat /deps/* > /build/all && wc -l /build/all > /build/count
FROM bench/bb:1
COPY --from=build /build /app
COPY --from=gen /src.tar /app/
COPY --from=assets /assets.gz /app/
CMD ["cat", "/app/count"]
DF
build_times ms-cold ms:1 "$MS" 1
build_times ms-cached ms:1 "$MS" 5
head -c 20000 /dev/urandom > "$MS/src/f7"
build_times ms-touch ms:1 "$MS" 1

# Registry: push and pull through `berth registry`, an image of 100 MB random data in 4 layers and the
# Debian minbase image (scripts/fixtures.sh makes it), each engine from its own store.
start_registry
for i in 1 2 3 4; do head -c 25000000 /dev/urandom > "$CTX/r$i"; done
printf 'FROM bench/img:1\nCOPY r1 /r1\nCOPY r2 /r2\nCOPY r3 /r3\nCOPY r4 /r4\n' > "$CTX/Dockerfile.big"
$BH "$BERTH" build -q -f "$CTX/Dockerfile.big" -t 127.0.0.1:$RPORT/berth/big:1 "$CTX" >/dev/null
$DH docker build -q -f "$CTX/Dockerfile.big" -t 127.0.0.1:$RPORT/docker/big:1 "$CTX" >/dev/null
DEBIAN=$(bash scripts/fixtures.sh debian)
{ $BH "$BERTH" import "$DEBIAN" 127.0.0.1:$RPORT/berth/debian:1 >/dev/null; $DH docker import "$DEBIAN" 127.0.0.1:$RPORT/docker/debian:1 >/dev/null; }
for img in big debian; do
  bt $BH "$BERTH" push 127.0.0.1:$RPORT/berth/$img:1 >"$W/push-$img-berth.json"
  bt $DH docker push 127.0.0.1:$RPORT/docker/$img:1 >"$W/push-$img-docker.json"
  $BH "$BERTH" rmi 127.0.0.1:$RPORT/berth/$img:1 >/dev/null
  $DH docker rmi 127.0.0.1:$RPORT/docker/$img:1 >/dev/null
  # Berth's build cache keeps the layers of images it built (as BuildKit's does), and a pull would find
  # them locally: prune it on both engines so each pull downloads every layer.
  $BH "$BERTH" builder prune -af >/dev/null
  $DH docker builder prune -af >/dev/null 2>&1 || true
  bt $BH "$BERTH" pull 127.0.0.1:$RPORT/berth/$img:1 >"$W/pull-$img-berth.json"
  bt $DH docker pull 127.0.0.1:$RPORT/docker/$img:1 >"$W/pull-$img-docker.json"
done
stop_pid "$RPID"
RPID=

docker buildx version >/dev/null 2>&1 || echo "note: BuildKit (docker-buildx) is not installed here; build numbers compare with dockerd's classic builder"
python3 - "$W" "$SHIM_RSS" "$DSHIM_RSS" "$SHIM_PSS" "$DSHIM_PSS" <<'PY'
import json, sys
w = sys.argv[1]
def m(name): return json.load(open(f"{w}/{name}.json"))["median_ms"]
print(f"\n{'containers and builds (median ms)':<34}{'berth':>10}{'dockerd':>10}{'ratio':>8}")
for label, key in [("run --rm IMG true", "run"), ("build, cold", "build-cold"), ("build, fully cached", "build-cached"), ("build, one COPY source touched", "build-touch"),
                   ("5-stage build, cold", "ms-cold"), ("5-stage build, fully cached", "ms-cached"), ("5-stage build, one source touched", "ms-touch")]:
    b, d = m(f"{key}-berth"), m(f"{key}-docker")
    print(f"{label:<34}{b:>10.1f}{d:>10.1f}{b / d:>8.2f}")
import os
for img, mb in [("big", 100.0), ("debian", 81.0)]:
    if not os.path.exists(f"{w}/push-{img}-berth.json"):
        continue
    for op in ("push", "pull"):
        b, d = m(f"{op}-{img}-berth"), m(f"{op}-{img}-docker")
        print(f"{op + ' ' + img + ' (MB/s)':<34}{mb / b * 1000:>10.1f}{mb / d * 1000:>10.1f}{d / b:>8.2f}x")
s, ds, sp, dsp = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(f"{'shim RSS, one (MB)':<34}{s / 1024:>10.1f}{ds / 1024:>10.1f}{s / max(ds, 1):>8.2f}")
print(f"{'shim PSS per container, 4 (MB)':<34}{sp / 1024:>10.1f}{dsp / 1024:>10.1f}{sp / max(dsp, 1):>8.2f}")
print("\ntargets: run --rm true <= 40 ms" + (" (met)" if m("run-berth") <= 40 else " (MISSED)") +
      "; shim memory <= 3 MB per container (PSS)" + (" (met)" if sp / 1024 <= 3 else " (MISSED)") +
      "; cold build <= 0.5x dockerd" + (" (met)" if m("build-cold-berth") <= 0.5 * m("build-cold-docker") else " (MISSED)") +
      "; cached rebuild <= 50 ms" + (" (met)" if m("build-cached-berth") <= 50 else " (MISSED)") +
      "; 5-stage cold <= 0.5x dockerd" + (" (met)" if m("ms-cold-berth") <= 0.5 * m("ms-cold-docker") else " (MISSED)") +
      "; 5-stage cached <= 50 ms" + (" (met)" if m("ms-cached-berth") <= 50 else " (MISSED)") +
      "; push >= 3x dockerd" + (" (met)" if m("push-big-docker") >= 3 * m("push-big-berth") else " (MISSED)") +
      "; pull >= 2x dockerd" + (" (met)" if m("pull-big-docker") >= 2 * m("pull-big-berth") else " (MISSED)"))
PY

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
