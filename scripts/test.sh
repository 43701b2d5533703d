#!/bin/bash
# The test command (README, CI): as root on Debian 12. Builds, checks style and lints, runs the
# unit and end-to-end tests (real containers), and the shared acceptance check when present.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo fmt --all -- --check
cargo build --release --workspace
cargo clippy --workspace --all-targets --release -- -D warnings
cargo test --release --workspace -- --test-threads=2
if [ -x ../shared/checks/lifecycle.sh ] || [ -f ../shared/checks/lifecycle.sh ]; then
  GANTRY=$PWD/target/release/gantry bash ../shared/checks/lifecycle.sh
fi
