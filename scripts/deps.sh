#!/bin/bash
# Install what Gantry's build, demo and tests need on Debian 12 (run as root). Idempotent.
set -euo pipefail
pkgs=(busybox-static jq runc crun gcc libc6-dev pkg-config podman conmon containerd make man-db groff-base python3-grpcio uidmap criu)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust 1.85 or newer (rustup) first; Debian 12's rustc is too old" >&2; exit 1; }
