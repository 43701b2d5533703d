#!/usr/bin/env python3
"""bench/check.py FILE: fail unless FILE is a complete result of bench/run.sh (what CI checks:
every metric has N samples for every runtime, or is listed as skipped with a reason). Times
are never compared with anything: the CI host is shared and noisy."""

import json
import sys

METRICS = ["lifecycle", "lifecycle.cpu", "create.rss", "run", "run.cpu", "exec", "exec.cpu",
           "parallel", "parallel.cpu"]
GPU = ["gpu8.create", "gpu0.create", "gpu8.create.cpu", "gpu0.create.cpu"]


def main(path):
    r = json.load(open(path))
    errs = []
    n, names, skipped = r["rounds"], list(r["runtimes"]), r.get("skipped", {})
    if "gantry" not in names:
        errs.append("no gantry in the runtimes")
    want = [(m, rt) for m in METRICS for rt in names]
    if "gpu" not in skipped:
        want += [(m, "gantry") for m in GPU]
    for m, rt in want:
        s = r["metrics"].get(m, {}).get(rt)
        if m == "create.rss" and "create.rss" in skipped:
            continue
        if not s:
            errs.append("%s: no %s" % (rt, m))
        elif s["n"] != n or len(s["samples"]) != n or not all(x > 0 for x in s["samples"]):
            errs.append("%s %s: %d samples, want %d positive" % (rt, m, len(s["samples"]), n))
    for k, why in skipped.items():
        print("bench check: skipped %s: %s" % (k, why))
    for e in errs:
        print("bench check: FAIL: " + e)
    if not errs:
        print("bench check: %d metrics x %s, %d rounds: complete" % (len(want), ",".join(names), n))
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
