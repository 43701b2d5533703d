#!/bin/bash
# The test command (README, CI): as root on Debian 12. Builds, checks style and lints, runs the
# unit and end-to-end tests (real containers), and the shared acceptance check when present.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo fmt --all -- --check
cargo build --release --workspace
cargo clippy --workspace --all-targets --release -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --release --workspace --no-fail-fast --lib --bins --tests -- --test-threads=2 2>&1 | tee "$log" || status=$?
# The runtime-spec conformance suite: any failure not listed in known-gaps.txt fails the run.
tap=$(mktemp)
if ! target/release/gantry-conformance --runtime target/release/gantry \
  --known-gaps conformance/known-gaps.txt >"$tap"; then
  grep '^not ok' "$tap" | grep -v '# TODO' || true
  status=1
fi
rm -f "$tap"
checks=0
if [ -f ../shared/checks/lifecycle.sh ]; then
  GANTRY=$PWD/target/release/gantry bash ../shared/checks/lifecycle.sh || status=1
  checks=1
fi
passed=$(awk '/^test result:/ {s += $4} END {print s + 0}' "$log")
failed=$(awk '/^test result:/ {s += $6} END {print s + 0}' "$log")
[ "$status" = 0 ] || failed=$((failed > 0 ? failed : 1))
echo "acceptance checks run: $checks"
echo "total: $((passed)) passed, $failed failed"
exit "$status"
