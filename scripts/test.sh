#!/usr/bin/env bash
# Runs every test: unit tests of each crate, and the end-to-end suites that start real daemons (each on
# its own temp data root and socket) and drive them with berth, the stock docker CLI and bollard.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --workspace --locked 2>&1 | tee /tmp/berth-test.log
