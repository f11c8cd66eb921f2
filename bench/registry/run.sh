#!/usr/bin/env bash
# `berth registry` (the release command users run) vs distribution (Debian's docker-registry), in one
# run, each on its own root and loopback port, filesystem storage, no auth:
# - skopeo copy in and out of several images: one SIZE_MB (default 100) MB layer, a 5-layer 20 MB one,
#   and one of MANY (default 200) 4 KiB layers (many small blobs);
# - PARALLEL (default 20) parallel small pushes by skopeo, then 5 x PARALLEL over plain HTTP from
#   PARALLEL threads (HEAD, POST, PATCH, PUT per blob, then the manifest, as docker pushes), each with
#   the registry's CPU seconds, medians of ROUNDS (default 5) rounds alternating between the registries;
# - tag-list and catalog latency with TAGS (default 10000) tags;
# - RSS: idle after start, peak while under the parallel pushes, and idle again after everything
#   settled (SETTLE seconds, default 5).
# Prints a table with ratios (> 1 means Berth is faster / smaller). Needs: skopeo, docker-registry,
# python3, curl (installed from Debian if missing), cargo. BERTH_BIN=path skips the release build.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
need_pkgs skopeo:skopeo docker-registry:docker-registry python3:python3 curl:curl
berth="$(berth_release)"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

berth_port="${BERTH_PORT:-5601}"; dist_port="${DIST_PORT:-5602}"
"$berth" registry --listen "127.0.0.1:$berth_port" --root "$work/berth-root" --gc-interval 0 --log-level warn \
  >"$work/berth.log" 2>&1 &
pids+=($!); berth_pid=$!
cat >"$work/dist.yml" <<YML
version: 0.1
log: { level: error }
storage:
  filesystem: { rootdirectory: $work/dist-root }
  delete: { enabled: true }
http: { addr: 127.0.0.1:$dist_port }
YML
docker-registry serve "$work/dist.yml" >"$work/dist.log" 2>&1 &
pids+=($!); dist_pid=$!
wait_registry "127.0.0.1:$berth_port"
wait_registry "127.0.0.1:$dist_port"

python3 "$here/bench.py" --work "$work" \
  --berth "127.0.0.1:$berth_port" --berth-pid "$berth_pid" \
  --dist "127.0.0.1:$dist_port" --dist-pid "$dist_pid" \
  --size-mb "${SIZE_MB:-100}" --tags "${TAGS:-10000}" --parallel "${PARALLEL:-20}" --rounds "${ROUNDS:-5}" \
  --many "${MANY:-200}" --settle "${SETTLE:-5}"
