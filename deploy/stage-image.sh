#!/usr/bin/env bash
# Lays out the container image's files in DIR, the whole build context of
# deploy/Containerfile, so that nothing else can slip into the image:
#
#   DIR/rootfs/referrald                           the static binary, version stamped
#   DIR/rootfs/plugins/commission, crmsync         the example hook plugins, static
#   DIR/rootfs/etc/ssl/certs/ca-certificates.crt   this machine's CA bundle (CA_BUNDLE)
#   DIR/rootfs/tmp                                 for the plugins' sockets (1777)
#   DIR/owned/data                                 empty (0700): /data, owned by the runtime user
#
# The binaries are built on this machine with CGO_ENABLED=0, so the image
# needs no Go build stage and no C library. This is the one place they are
# built: make image runs it, and deploy/image_test.go runs it to test what
# the image holds.
#
#   VERSION=v1.2.3 deploy/stage-image.sh bin/image
set -euo pipefail
shopt -s inherit_errexit

[[ $# -eq 1 ]] || { echo "usage: deploy/stage-image.sh DIR" >&2; exit 2; }
mkdir -p "$1"
dir=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
go=${GO:-go}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
ca=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[[ -r $ca ]] || { echo "stage-image: no CA bundle at $ca: apt-get install ca-certificates, or set CA_BUNDLE" >&2; exit 1; }

# The image's modes must not depend on whoever stages it.
umask 022
rm -rf "$dir/rootfs" "$dir/owned"
mkdir -p "$dir/rootfs/plugins" "$dir/rootfs/etc/ssl/certs"
# Linux binaries whatever machine builds them (docker on a Mac, say).
export CGO_ENABLED=0 GOOS=linux
"$go" build -trimpath -ldflags "-s -w -X main.version=$version" -o "$dir/rootfs/referrald" .
"$go" build -trimpath -ldflags "-s -w" -o "$dir/rootfs/plugins/" ./plugins/...
install -m 0644 "$ca" "$dir/rootfs/etc/ssl/certs/ca-certificates.crt"
# go-plugin makes each plugin's socket in $TMPDIR or /tmp, and a plugin
# gets only the environment its config gives it.
install -d -m 1777 "$dir/rootfs/tmp"
# Copied as an entry of owned/, so that its mode comes along.
install -d -m 0755 "$dir/owned"
install -d -m 0700 "$dir/owned/data"
