#!/usr/bin/env bash
# `berth registry` (the release command users run) vs distribution (Debian's docker-registry), in one
# run, each on its own root and loopback port, filesystem storage, no auth:
# - skopeo copy in and out of several images: one SIZE_MB (default 100) MB layer, a 5-layer 20 MB one,
#   and one of MANY (default 200) 4 KiB layers (many small blobs);
# - a SIZE_MB blob pushed (monolithic PUT) and pulled over plain HTTP from this process: the
#   registry's own throughput, which a skopeo pull of a large layer hides behind skopeo's own work;
# - PARALLEL (default 20) parallel small pushes by skopeo, then 5 x PARALLEL over plain HTTP from
#   PARALLEL threads (HEAD, POST, PATCH, PUT per blob, then the manifest, as docker pushes), each with
#   the registry's CPU seconds; every push and pull above is a median of ROUNDS (default 5) rounds
#   alternating between the registries (fresh images each round: a repeated push would skip blobs);
# - tag-list and catalog latency with TAGS (default 10000 on fs, 1000 on S3) tags;
# - RSS: idle after start, peak while under the parallel pushes, and idle again after everything
#   settled (SETTLE seconds, default 5).
# Prints a table with ratios (> 1 means Berth is faster / smaller). Needs: skopeo, docker-registry,
# python3, curl (installed from Debian if missing), cargo. BERTH_BIN=path skips the release build.
#
# STORAGE=s3 runs both on S3 instead: a throwaway one-node Ceph cluster with a RADOS Gateway on
# loopback (scripts/ceph-rgw.sh, as the registry's Ceph test; ceph packages from scripts/setup.sh),
# one bucket each, the same workloads. Its start takes a minute or two and ~1.5 GiB of memory.
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
storage="${STORAGE:-fs}"
# Tagging is one manifest PUT per tag: on the one-OSD Ceph distribution takes ~0.26 s a tag (Berth
# ~0.03 s), so 10,000 tags would take distribution alone 45 minutes there.
default_tags=10000; [ "$storage" = s3 ] && default_tags=1000
case $storage in
  fs)
    "$berth" registry --listen "127.0.0.1:$berth_port" --root "$work/berth-root" --gc-interval 0 --log-level warn \
      >"$work/berth.log" 2>&1 &
    pids+=($!); berth_pid=$!
    dist_storage="filesystem: { rootdirectory: $work/dist-root }"
    ;;
  s3)
    ceph_dir="$work/ceph"
    cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
                "$here/../../scripts/ceph-rgw.sh" stop "$ceph_dir" >/dev/null 2>&1 || true; rm -rf "$work"; }
    # Both registries store every round's images (~1.5 GiB at the defaults) and S3 uploads keep their
    # parts until the commit: a device well above that, or Ceph stalls writes when nearly full.
    CEPH_OSD_BYTES="${CEPH_OSD_BYTES:-$((8 << 30))}" "$here/../../scripts/ceph-rgw.sh" start "$ceph_dir" >&2
    . "$ceph_dir/env"
    for b in berth dist; do  # the registries never create their bucket
      # curl 7.88 signs no payload hash; RGW wants it (that of the empty body)
      curl -fsS -X PUT --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
        -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "$S3_ENDPOINT/$b" >/dev/null
    done
    cat >"$work/berth.yml" <<YML
version: 0.1
log: { level: warn }
http: { addr: 127.0.0.1:$berth_port }
storage:
  s3: { region: $S3_REGION, regionendpoint: $S3_ENDPOINT, bucket: berth, accesskey: $S3_ACCESS_KEY,
        secretkey: $S3_SECRET_KEY, rootdirectory: /registry, forcepathstyle: true }
  redirect: { disable: true }
gc: { interval: 0 }
YML
    "$berth" registry --config "$work/berth.yml" >"$work/berth.log" 2>&1 &
    pids+=($!); berth_pid=$!
    # distribution 2.8's s3 driver: path-style whenever regionendpoint is set; no redirects, as Berth's.
    dist_storage="s3: { region: $S3_REGION, regionendpoint: $S3_ENDPOINT, bucket: dist, accesskey: $S3_ACCESS_KEY,
        secretkey: $S3_SECRET_KEY, rootdirectory: /registry, secure: false, v4auth: true }
  redirect: { disable: true }"
    ;;
  *) echo "STORAGE must be fs or s3" >&2; exit 2 ;;
esac
cat >"$work/dist.yml" <<YML
version: 0.1
log: { level: error }
storage:
  $dist_storage
  delete: { enabled: true }
http: { addr: 127.0.0.1:$dist_port }
YML
# Without AWS_CA_BUNDLE: distribution 2.8's aws-sdk-go panics on it with a custom HTTP transport.
env -u AWS_CA_BUNDLE docker-registry serve "$work/dist.yml" >"$work/dist.log" 2>&1 &
pids+=($!); dist_pid=$!
wait_registry "127.0.0.1:$berth_port"
wait_registry "127.0.0.1:$dist_port"

echo "storage: $storage; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$here/bench.py" --work "$work" \
  --berth "127.0.0.1:$berth_port" --berth-pid "$berth_pid" \
  --dist "127.0.0.1:$dist_port" --dist-pid "$dist_pid" \
  --size-mb "${SIZE_MB:-100}" --tags "${TAGS:-$default_tags}" --parallel "${PARALLEL:-20}" --rounds "${ROUNDS:-5}" \
  --many "${MANY:-200}" --settle "${SETTLE:-5}"
