#!/bin/bash
# Fresh Debian 12, as root: install what is needed, build Gantry, and run a container from a
# busybox bundle built here.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --workspace
b=$(mktemp -d -t gantry-demo.XXXXXX)
scripts/mkbundle.sh "$b"
target/release/gantry --root "$b/state" run --bundle "$b" demo
rm -rf "$b"
