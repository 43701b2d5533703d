#!/bin/bash
# The config fuzz target (fuzz/fuzz_targets/config.rs) under libFuzzer for a bounded time, on
# the stable toolchain: the coverage instrumentation cargo-fuzz adds (sancov passes, stable
# -C options) without its sanitizer (-Zsanitizer needs nightly) or cargo-fuzz itself. A panic,
# a hang past -timeout or an error naming no field is a finding: the input is printed (base64)
# and the script fails.
#
#   scripts/fuzz.sh [SECONDS]        (default 60; scripts/test.sh runs 30)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
target=x86_64-unknown-linux-gnu
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions"
# --target keeps RUSTFLAGS off build scripts and proc macros, which are not linked with libFuzzer.
(cd fuzz && cargo build --release --quiet --target "$target" --bin config)
work=$(mktemp -d /tmp/gantry-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/tmp"
cp fuzz/corpus/config/* "$work/corpus/"
# TMPDIR: the target's bundle dir goes under $work, removed with it.
if ! TMPDIR=$work/tmp "fuzz/target/$target/release/config" -max_total_time="$secs" -timeout=5 \
  -rss_limit_mb=2048 -artifact_prefix="$work/" -print_final_stats=1 "$work/corpus" \
  >"$work/log" 2>&1; then
  tail -40 "$work/log"
  for f in "$work"/crash-* "$work"/timeout-* "$work"/oom-*; do
    [ -e "$f" ] && echo "finding $(basename "$f"): $(base64 -w0 "$f")"
  done
  echo "FAIL: fuzz target config"
  exit 1
fi
grep -E '^stat::number_of_executed_units|^Done' "$work/log" | tr '\n' ' '
echo "(config fuzz target, ${secs}s: no finding)"
