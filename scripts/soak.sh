#!/bin/bash
# The soak on demand (issue 16): scripts/soak.sh [N] [M] runs N lifecycles in a row (default
# 1000), M concurrent creates and deletes (default 100) and N/20 rounds of racing commands on
# one id, then checks that no fd, mount, cgroup, state dir, process or zombie is left
# (tests/tests/soak.rs; CI runs it with N=100, M=100 as part of the test suite).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
m=${2:-100}
cargo build --release -p gantry
GANTRY_SOAK_N=$n GANTRY_SOAK_M=$m GANTRY_SOAK_RACES=$((n / 20 > 15 ? n / 20 : 15)) \
  cargo test --release -p gantry-tests --test soak -- --test-threads=1 --nocapture
