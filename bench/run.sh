#!/bin/sh
# The benchmark (issue 15): gantry against crun, runc and any --runtime NAME=PATH, interleaved.
# bench/run.sh --help for the flags; docs/performance.md for what it measures and the results.
exec python3 "$(dirname "$0")/bench.py" "$@"
