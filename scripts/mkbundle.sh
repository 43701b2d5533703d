#!/bin/bash
# mkbundle.sh DIR [ARGS_JSON]: a bundle with a busybox rootfs (from Debian's busybox-static, no
# image registry needed) and the config.json `gantry spec` writes, running ARGS_JSON without a
# terminal (default: a shell one-liner that shows where it runs).
set -euo pipefail
dir=$1
args=${2:-'["sh","-c","echo hello from $(hostname), pid $$; id"]'}
here=$(cd "$(dirname "$0")/.." && pwd)
gantry=${GANTRY:-$here/target/release/gantry}
mkdir -p "$dir/rootfs"/{bin,proc,sys,dev,etc,tmp,root}
cp /bin/busybox "$dir/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$dir/rootfs/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$dir/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/rootfs/etc/group"
chmod 1777 "$dir/rootfs/tmp"
rm -f "$dir/config.json"
"$gantry" spec --bundle "$dir"
jq --argjson args "$args" '.process.terminal = false | .process.args = $args' "$dir/config.json" >"$dir/config.json.new"
mv "$dir/config.json.new" "$dir/config.json"
