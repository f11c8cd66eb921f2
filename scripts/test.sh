#!/usr/bin/env bash
# Runs every test: unit tests of each crate, and the end-to-end suites that start real daemons (each on
# its own temp data root and socket) and drive them with berth, the stock docker CLI and bollard.
# Fixtures (a BusyBox and a Debian root filesystem) are made by scripts/fixtures.sh from this machine's
# packages and cached in target/fixtures/. Every test binary runs (--no-fail-fast); the full log is kept in
# target/test.log and the last line totals all of them. Then the fuzz targets (scripts/fuzz.sh): the
# checked-in corpus replayed, and a short run of every target (FUZZ_SECONDS in total, default 90; 0
# skips it); a crash fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p target
log=target/test.log
# Bridges and firewall chains of test daemons that a killed earlier run could not stop.
bash scripts/clean-test-leftovers.sh
echo "==> fixtures"
bash scripts/fixtures.sh busybox debian
# The fault-injection suite SIGKILLs the daemon this many times per operation (issue 14: at least 20
# per CI run; scripts/fault-soak.sh runs more).
export BERTH_FAULT_ITERATIONS=${BERTH_FAULT_ITERATIONS:-20}
# What the host holds of Berth's before the tests: bridges, firewall chain sets, container cgroups.
host_state() {
  { ip -o link show type bridge 2>/dev/null | awk -F': ' '{print "bridge " $2}' | grep -E ' (btd[0-9]+|berth[0-9]*)$' || true
    { iptables -w 10 -S; iptables -w 10 -t nat -S; } 2>/dev/null | grep -oE '^-N BERTH(-[0-9a-f]{6})?' | sed 's/^-N /chains /' | sort -u || true
    find /sys/fs/cgroup -maxdepth 3 -type d -name 'berth-*' 2>/dev/null | sed 's/^/cgroup /' || true
  } | sort -u
}
host_state >target/host-state.before
echo "==> cargo test --workspace (log: $log)"
set +e
cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
fuzz_seconds=${FUZZ_SECONDS:-90}
fuzz_status=0
if [ "$fuzz_seconds" -gt 0 ]; then
  echo "==> fuzz: replay the corpus, then ${fuzz_seconds}s over every target (log: target/fuzz/*.log)"
  bash scripts/fuzz.sh replay && bash scripts/fuzz.sh run -t "$fuzz_seconds" || fuzz_status=$?
fi
set -e
# Totals over every test binary's "test result:" line.
read -r passed failed ignored < <(awk '/^test result:/ {
    for (i = 1; i <= NF; i++) { gsub(/;/, "", $(i+1)); if ($(i+1) == "passed") p += $i; if ($(i+1) == "failed") f += $i; if ($(i+1) == "ignored") g += $i }
  } END { printf "%d %d %d\n", p, f, g }' "$log")
echo
# Each failed test with its panic message (the lines after "panicked at", up to 4), so the summary
# alone says what broke.
awk '/^---- .* stdout ----$/ { print; n = 0; next }
     /^error: test failed/ { print; next }
     /panicked at / { print; n = 4; next }
     n > 0 { if ($0 == "" || /^note: /) n = 0; else { print; n-- } }' "$log" | sed 's/^/    /' || true
echo "berth: $passed passed, $failed failed, $ignored skipped"
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "cargo test exited $status without a failed test (a build error or a crashed test binary): see $log" >&2
fi
# Every test removes what it made, also when it fails. What a finished test provably left (a test
# bridge or chain set no live test or daemon holds, a container or Berth process of a test directory
# that is gone) fails the run; anything else new on the host (the default bridge's chains, a cgroup) is
# reported, since a concurrent run of another clone may own it.
if ! leaked=$(bash scripts/clean-test-leftovers.sh --check); then
  echo "the tests left these on the host (a test that does not clean up; scripts/clean-test-leftovers.sh removes them):" >&2
  printf '%s\n' "$leaked" | sed 's/^/    /' >&2
  [ "$status" -ne 0 ] || status=1
fi
# What the tests provably left is removed now (the run has failed on it already), and CNI's shared
# chains go once no pod rule is left in them.
bash scripts/clean-test-leftovers.sh >/dev/null 2>&1 || true
others=$(host_state | comm -13 target/host-state.before - || true)
if [ -n "$others" ]; then
  echo "warning: new on the host since the tests started (this run's, or a concurrent one's):" >&2
  printf '%s\n' "$others" | sed 's/^/    /' >&2
fi
if [ "$fuzz_status" -ne 0 ]; then
  echo "fuzzing failed: a crash or a build error (see above; crashing inputs in target/fuzz/artifacts/)" >&2
  [ "$status" -ne 0 ] || status=$fuzz_status
fi
exit "$status"
