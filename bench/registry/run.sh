#!/usr/bin/env bash
# Berth registry vs distribution (Debian's docker-registry), each on its own root and loopback port:
# skopeo copy of a SIZE_MB (default 100) MB random-data image in and out, PARALLEL (default 20) parallel
# small pushes by skopeo and then 5 x PARALLEL over plain HTTP from PARALLEL threads (HEAD, POST, PATCH,
# PUT per blob, then the manifest, as docker pushes), each with the registry's CPU seconds spent and
# as the median of ROUNDS (default 5) rounds alternating between the registries,
# tag-list/catalog latency with TAGS (default 10000) tags, and idle RSS. Prints ratios
# (> 1 means Berth is faster / smaller). Needs: skopeo, docker-registry, python3, cargo.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target-registry}"
for tool in skopeo docker-registry python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y skopeo docker-registry python3)" >&2; exit 1; }
done
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

(cd "$repo" && cargo build --release -q -p berth-registry --example serve)
berth_port="${BERTH_PORT:-5601}"; dist_port="${DIST_PORT:-5602}"

"$CARGO_TARGET_DIR/release/examples/serve" "127.0.0.1:$berth_port" "$work/berth-root" none >"$work/berth.log" 2>&1 &
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

python3 "$here/bench.py" --work "$work" \
  --berth "127.0.0.1:$berth_port" --berth-pid "$berth_pid" \
  --dist "127.0.0.1:$dist_port" --dist-pid "$dist_pid" \
  --size-mb "${SIZE_MB:-100}" --tags "${TAGS:-10000}" --parallel "${PARALLEL:-20}" --rounds "${ROUNDS:-5}"
