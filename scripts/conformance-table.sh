#!/bin/bash
# Regenerates docs/conformance.md: the conformance suite run against Gantry, runc and crun side
# by side on this host. As root; runc and crun from Debian (scripts/deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -p gantry -p gantry-conformance
runtimes=(target/release/gantry /usr/sbin/runc /usr/bin/crun)
table=$(mktemp)
trap 'rm -f "$table"' EXIT
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

A skip is not a pass: it means the requirement cannot be tested on this host or runtime (a
missing cgroup file, no `features` command), and says why.

## Where the runtimes differ from the spec

Each check quotes the spec sentence it tests in its doc comment. Where runc or crun fail, the
check was re-read against the spec; the failures that remain are the runtimes':

- `runtime.lifecycle.delete.created-errors` (runc, crun): runtime.md 1.0.2, "Attempting to delete
  a container that is not stopped MUST have no effect on the container and MUST generate an
  error"; both kill and delete a created container.
- `config.hooks.poststart.after-start` (runc 1.1): "The poststart hooks MUST be called after the
  user-specified process is executed"; runc 1.1 runs them during create.
- `config.hooks.poststop.failure-continues` (runc 1.1): "If any poststop hook fails, the runtime
  MUST log a warning, but the remaining hooks and lifecycle continue"; runc stops at the first.
- `config.domainname`, `config-linux.personality` (runc 1.1): not implemented before runc 1.2.
- `config.mounts.propagation.rshared` (crun 1.8): a mount with the `rshared` option stays private.
- `config-linux.resources.memory.kernelTCP`, `memory.useHierarchy.unsupported-errors`,
  `cpu.idle` (runc 1.1): ignored; runtime.md, "If the runtime cannot apply a property as
  specified in the configuration, it MUST generate an error".
- `config-linux.resources.cpu.burst` (runc 1.1, crun 1.8): runtime-spec 1.1.0's field is not
  applied.
- `config-linux.resources.blockIO.weight` (crun 1.8): only CFQ's `blkio.weight` is written, so on
  a BFQ kernel the create fails instead of applying the weight.
- `runtime.features.*` (crun 1.8): no `features` command (skipped).

Skips are the same for every runtime: they are fields this host's kernel cannot hold (CFQ's
leaf weights, kernel memory, rdma, net_cls/net_prio not mounted, `unified` on v1 cgroups).

## Measured here
DOC
  echo
  echo "$(date -u +%Y-%m-%d), $(uname -sr), cgroup v1 (hybrid):"
  for rt in "${runtimes[@]}"; do
    echo "- $(basename "$rt"): $("$rt" --version 2>/dev/null | head -1 || echo unknown)"
  done
  echo
  echo "Regenerate with \`scripts/conformance-table.sh\`."
  echo
  cat "$table"
} >docs/conformance.md
echo "wrote docs/conformance.md"
