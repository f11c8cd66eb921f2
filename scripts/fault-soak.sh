#!/bin/sh
# A longer fault-injection run than CI's: SIGKILLs the daemon N times (default 100) per operation
# at seeded random moments (crates/berth-cli/tests/fault_injection.rs). Pass a seed to replay.
#   scripts/fault-soak.sh [ITERATIONS] [SEED]
set -eu
cd "$(dirname "$0")/.."
export BERTH_FAULT_ITERATIONS="${1:-100}"
if [ -n "${2:-}" ]; then export BERTH_FAULT_SEED="$2"; fi
exec cargo test -p berth-cli --test fault_injection -- --nocapture
