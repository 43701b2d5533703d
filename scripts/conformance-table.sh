#!/bin/bash
# Regenerates docs/conformance.md: the conformance suite run against Gantry, runc and crun side
# by side on this host. As root; runc and crun from Debian (scripts/deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -p gantry -p gantry-conformance
runtimes=(target/release/gantry /usr/sbin/runc /usr/bin/crun)
table=$(mktemp)

# The host's cgroup layout, for the record.
cgroup_layout() {
  if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
    echo "cgroup v2"
  elif [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
    local c
    c=$(cat /sys/fs/cgroup/unified/cgroup.controllers)
    echo "cgroup v1 (hybrid; the cgroup2 mount at /sys/fs/cgroup/unified holds: ${c:-no controllers})"
  else
    echo "cgroup v1"
  fi
}

# crun 1.8 refuses a hybrid host whose cgroup2 mount holds controllers ("cgroups in hybrid mode
# not supported, drop all controllers from cgroupv2"). With BIND_HUGETLB_V1=1 the run moves
# hugetlb (the one controller there on Debian's layout) to a v1 hierarchy and back afterwards;
# that needs no cgroup in the unified mount using hugetlb.
layout=$(cgroup_layout)
hugetlb_note=""
hugetlb_was_on=0
made_dir=0
hugetlb_back() {
  for _ in $(seq "$1"); do
    grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers && return 0
    sleep 0.1
  done
  return 1
}
unbind_hugetlb() {
  # A v1 hierarchy outlives its mount while it has cgroups: remove the (empty) ones the runs
  # left, unmount, and wait for the kernel to hand hugetlb back to the cgroup2 mount.
  find /sys/fs/cgroup/hugetlb -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true
  umount /sys/fs/cgroup/hugetlb
  if [ "$made_dir" = 1 ]; then rmdir /sys/fs/cgroup/hugetlb; fi
  if ! hugetlb_back 20; then
    # The unmount raced the removed cgroups going offline: one more mount and unmount of the
    # now childless hierarchy releases it.
    local t
    t=$(mktemp -d)
    mount -t cgroup -o hugetlb cgroup "$t" && umount "$t"
    rmdir "$t"
    hugetlb_back 100
  fi
  if [ "$hugetlb_was_on" = 1 ]; then
    echo +hugetlb >/sys/fs/cgroup/unified/cgroup.subtree_control
  fi
}
cleanup() {
  rm -f "$table"
  if [ -n "$hugetlb_note" ]; then unbind_hugetlb; fi
}
trap cleanup EXIT
if [ "${BIND_HUGETLB_V1:-0}" = 1 ] && grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; then
  if grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.subtree_control; then
    hugetlb_was_on=1
    # Fails (EBUSY) while a cgroup below still enables it for its children.
    echo -hugetlb >/sys/fs/cgroup/unified/cgroup.subtree_control
  fi
  if [ ! -d /sys/fs/cgroup/hugetlb ]; then
    mkdir /sys/fs/cgroup/hugetlb
    made_dir=1
  fi
  mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
  hugetlb_note=", hugetlb bound to cgroup v1 for the run (BIND_HUGETLB_V1=1, so that crun 1.8 runs)"
fi
# The table shows every failure; the exit status (failures not in known-gaps) is not this
# script's business.
"$CARGO_TARGET_DIR"/release/gantry-conformance --format table \
  --known-gaps conformance/known-gaps.txt \
  $(printf -- '--runtime %s ' "${runtimes[@]}") >"$table" || true
{
  cat <<'DOC'
# Runtime-spec conformance

`gantry-conformance` (in `conformance/`) checks a runtime binary against the
[OCI runtime-spec](https://github.com/opencontainers/runtime-spec): one check per testable
requirement of runtime.md, config.md, config-linux.md (and runtime-linux.md, features.md), each
named for what it tests (`config.process.user.uid`, `runtime.lifecycle.start.twice-errors`), with
the spec section and the requirement's level. Every check builds its own busybox bundle
(config `ociVersion` 1.0.2, so crun 1.8 accepts it), looks at the effect from inside the
container and from the host (/proc, cgroupfs), and deletes what it made. It runs against any
runtime with runc's command line: Gantry, runc, crun, youki.

## Running it

    cargo build --release -p gantry -p gantry-conformance
    target/release/gantry-conformance --runtime target/release/gantry              # TAP
    target/release/gantry-conformance --runtime target/release/gantry \
        --runtime /usr/sbin/runc --runtime /usr/bin/crun --format table          # side by side
    target/release/gantry-conformance --runtime /usr/bin/crun --filter hooks --format json
    target/release/gantry-conformance --runtime target/release/gantry --list     # the checks

It exits non-zero if any check fails for any runtime, unless the failure is listed in the file
given with `--known-gaps` (lines `RUNTIME_BASENAME CHECK_NAME  # reason`;
[conformance/known-gaps.txt](../conformance/known-gaps.txt) is ours). A listed gap that passes
is reported as stale. `scripts/test.sh` runs the suite against Gantry with that file, so a new
failure fails CI. Checks run two at a time (`--jobs`); a runtime takes about 20 s here.

Resources are read back from whichever hierarchy holds the controller: a cgroup v1 hierarchy, a
pure cgroup v2 host (v2 file names and values, e.g. `cpu.weight` for shares, `io.max` for the
throttles), or a hybrid host's cgroup2 mount (hugetlb on Debian's layout). The table below was
taken with `BIND_HUGETLB_V1=1 scripts/conformance-table.sh`, which moves hugetlb to a v1
hierarchy for the run and back after, because crun 1.8 refuses a hybrid host whose cgroup2
mount holds a controller; on the host as it boots, `scripts/test.sh` runs the suite against
Gantry with hugetlb on the cgroup2 mount.

A skip is not a pass: it means the requirement cannot be tested on this host or runtime (a
missing cgroup file, no `features` command), and says why.

## Where the runtimes differ from the spec

Each check quotes the spec sentence it tests in its doc comment. Where runc or crun fail, the
check was re-read against the spec; the failures that remain are the runtimes', listed with
their reasons in [conformance/known-gaps.txt](../conformance/known-gaps.txt):

DOC
  # One line per known gap: `check` (runtime): reason.
  awk '/^[^#]/ && NF >= 2 {
         rt = $1; check = $2; reason = $0
         sub(/^[^#]*#[ ]*/, "", reason)
         printf "- `%s` (%s): %s\n", check, rt, reason
       }' conformance/known-gaps.txt
  cat <<'DOC'

A skip is the same for every runtime when the host cannot hold the field (the reasons are
listed under the table).

## Measured here
DOC
  echo
  echo "$(date -u +%Y-%m-%d), $(uname -sr), ${layout}${hugetlb_note}:"
  for rt in "${runtimes[@]}"; do
    echo "- $(basename "$rt"): $("$rt" --version 2>/dev/null | head -1 || echo unknown)"
  done
  echo
  echo "Regenerate with \`scripts/conformance-table.sh\`."
  echo
  cat "$table"
} >docs/conformance.md
echo "wrote docs/conformance.md"
