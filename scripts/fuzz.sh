#!/usr/bin/env bash
# Fuzzing with libFuzzer on the stable toolchain (libfuzzer-sys + LLVM's sanitizer-coverage pass, which
# stable rustc runs with `-C passes=sancov-module`; no nightly, no cargo-fuzz). See docs/ARCHITECTURE.md,
# "Fuzzing". The targets live in fuzz/ (its own workspace, so `cargo build --workspace` never sees them).
#
#   scripts/fuzz.sh build                      build every target (target/fuzz/)
#   scripts/fuzz.sh run [-t SECS] [TARGET...]  fuzz each target SECS seconds (default $FUZZ_SECONDS or 600,
#                                              split evenly when no TARGET is named); exit 1 on a crash
#   scripts/fuzz.sh replay [TARGET...]         run every checked-in corpus input once (regression check)
#   scripts/fuzz.sh seeds                      regenerate the seed corpus fuzz/corpus from real inputs
#   scripts/fuzz.sh list                       the targets
#
# New coverage goes to target/fuzz/corpus/TARGET (never into the checked-in seeds under fuzz/corpus;
# copy inputs worth keeping there, after `-merge=1` minimisation). A crash leaves its input in
# target/fuzz/artifacts/TARGET/ and prints how to reproduce it; it becomes a unit test in the crate
# that owns the code, and its input goes into fuzz/corpus/TARGET so `replay` keeps checking it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
triple=$(rustc -vV | sed -n 's/^host: //p')
out="$root/target/fuzz"
bin="$out/$triple/release"
targets=(dockerfile dockerignore reference layer_apply image_load manifest_client manifest_registry api_json daemon_query registry_upload)

# fuzz/Cargo.lock is made from the workspace's lock at each build (and not checked in): the targets
# fuzz exactly the dependency versions Berth ships, and a dependency change on main never leaves a
# stale second lock behind. Cargo adds the fuzz-only crates (pinned in fuzz/Cargo.toml).
sync_lock() {
  cp Cargo.lock fuzz/Cargo.lock
  cargo metadata --offline --manifest-path fuzz/Cargo.toml --format-version 1 >/dev/null 2>&1 \
    || cargo metadata --manifest-path fuzz/Cargo.toml --format-version 1 >/dev/null
}

build() {
  sync_lock
  # The flags cargo-fuzz passes, minus the nightly-only sanitizer: coverage counters and comparison
  # tracing for libFuzzer, debug assertions and overflow checks on. `--target` keeps them off build
  # scripts and proc macros.
  RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks" \
  CARGO_TARGET_DIR="$out" cargo build --locked --release --manifest-path fuzz/Cargo.toml --target "$triple" --bins
}

# Per-target input size cap: archives need room, text parsers do not.
max_len() {
  case "$1" in
    layer_apply | image_load) echo 262144 ;;
    registry_upload) echo 65536 ;;
    *) echo 16384 ;;
  esac
}

run_one() { # TARGET SECONDS
  local t=$1 secs=$2
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t" "fuzz/corpus/$t"
  echo "==> fuzz $t for ${secs}s"
  local log="$out/$t.log"
  if ! "$bin/$t" "$out/corpus/$t" "fuzz/corpus/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -max_len="$(max_len "$t")" -artifact_prefix="$out/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz target $t failed; input in $out/artifacts/$t/ (reproduce: $bin/$t FILE)" >&2
    return 1
  fi
  grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$log" | sed "s/^/    $t /"
}

cmd=${1:-run}
shift || true
case "$cmd" in
  list) printf '%s\n' "${targets[@]}" ;;
  seeds)
    # A plain debug build (no coverage flags) in the main target dir.
    sync_lock
    CARGO_TARGET_DIR="$root/target" cargo run --locked --manifest-path fuzz/Cargo.toml \
      -p berth-fuzz-seedgen -- "$root/fuzz/corpus"
    ;;
  build) build ;;
  run)
    total=${FUZZ_SECONDS:-600}
    if [ "${1:-}" = "-t" ]; then total=$2; shift 2; fi
    chosen=("$@")
    [ ${#chosen[@]} -gt 0 ] || chosen=("${targets[@]}")
    per=$(( total / ${#chosen[@]} ))
    [ "$per" -ge 1 ] || per=1
    build
    failed=0
    for t in "${chosen[@]}"; do run_one "$t" "$per" || failed=1; done
    exit $failed
    ;;
  replay)
    chosen=("$@")
    [ ${#chosen[@]} -gt 0 ] || chosen=("${targets[@]}")
    build
    for t in "${chosen[@]}"; do
      echo "==> replay $t ($(find "fuzz/corpus/$t" -type f | wc -l) inputs)"
      "$bin/$t" -runs=0 -timeout=10 -rss_limit_mb=2048 "fuzz/corpus/$t" >"$out/$t.replay.log" 2>&1 \
        || { tail -n 40 "$out/$t.replay.log"; exit 1; }
    done
    ;;
  *) echo "usage: $0 build | run [-t SECONDS] [TARGET...] | replay [TARGET...] | list" >&2; exit 2 ;;
esac
