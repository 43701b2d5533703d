#!/bin/sh
# Median wall time of `gantry run` of /bin/true (a busybox bundle), interleaved, for each
# runtime binary given; the same binary with _GANTRY_EXESEAL=1 in its environment skips the
# sealed re-exec (docs/security.md), which isolates its cost.
# Usage: scripts/bench-exeseal.sh [RUNS] BIN...
set -eu
runs=${1:-30}; shift
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/b/rootfs/bin" "$tmp/b/rootfs/proc" "$tmp/b/rootfs/dev"
cp /bin/busybox "$tmp/b/rootfs/bin/"; ln -s busybox "$tmp/b/rootfs/bin/true"
(cd "$tmp/b" && "$1" spec >/dev/null 2>&1 || true)
python3 - "$tmp/b/config.json" <<'P'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"].update(terminal=False, args=["/bin/true"])
json.dump(c, open(sys.argv[1], "w"))
P
# ms SKIP BIN ARGS...: one timed run; SKIP=1 sets the marker that skips the sealed re-exec.
ms() { python3 -c 'import os,sys,time,subprocess
env=dict(os.environ); env.update({"_GANTRY_EXESEAL": "1"} if sys.argv[1] == "1" else {})
t=time.perf_counter(); r=subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, env=env)
d=(time.perf_counter()-t)*1000
sys.exit(r.returncode) if r.returncode else print("%.2f"%d)' "$@"; }
i=0
while [ $i -lt "$runs" ]; do
  for b in "$@"; do
    n=$(echo "$b" | tr '/' '_')
    ms 0 "$b" --root "$tmp/root" run --bundle "$tmp/b" "c$i$n" >>"$tmp/$n.sealed"
    ms 1 "$b" --root "$tmp/root" run --bundle "$tmp/b" "d$i$n" >>"$tmp/$n.unsealed"
  done
  i=$((i+1))
done
for f in "$tmp"/*.sealed "$tmp"/*.unsealed; do
  printf '%s median %s ms\n' "$(basename "$f")" "$(sort -n "$f" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
done
