#!/bin/bash
# oci-image.sh ROOTFS NAME OUT.tar [CMD_JSON]: an OCI image layout tar (one gzip layer of ROOTFS, a config,
# a manifest, index.json naming it NAME for containerd), for `ctr image import`: no registry.
set -euo pipefail
rootfs=$1 name=$2 out=$3 cmd=${4:-'["sh"]'}
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
mkdir -p "$w/img/blobs/sha256"
blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$w/img/blobs/sha256/$d"; echo "$d $(stat -c %s "$1")"; }
tar -C "$rootfs" -czf "$w/layer.tgz" .
diff_id=$(gzip -dc "$w/layer.tgz" | sha256sum | cut -d' ' -f1)
read -r layer layer_size < <(blob "$w/layer.tgz")
printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":%s},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$cmd" "$diff_id" >"$w/config.json"
read -r cfg cfg_size < <(blob "$w/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' "$cfg" "$cfg_size" "$layer" "$layer_size" >"$w/manifest.json"
read -r man man_size < <(blob "$w/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"latest"}}]}' "$man" "$man_size" "$name" >"$w/img/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$w/img/oci-layout"
tar -C "$w/img" -cf "$out" .
