#!/usr/bin/env bash
# make image: stages the image's files with deploy/stage-image.sh and
# builds deploy/Containerfile on them with the first of podman, buildah
# and docker that is installed (IMAGE_BUILDER picks one). The image is
# tagged referrald:<version> and referrald:latest, or IMAGE alone.
#
#   IMAGE=referrald:test IMAGE_STAGING=bin/image VERSION=v1.2.3 deploy/build-image.sh
#
# podman and buildah build in docker format: OCI's image config has no
# HEALTHCHECK, so an OCI image would lose it. Without --layers=false,
# podman would keep an untagged image of every step besides the image.
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "$0")/.."
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
# A tag takes letters, digits, _ . and - only: v1.2+build4 becomes v1.2-build4.
tag=${version//[^A-Za-z0-9_.-]/-}
tags=(--tag "${IMAGE:-referrald:$tag}")
[[ -n ${IMAGE:-} ]] || tags+=(--tag referrald:latest)
staging=${IMAGE_STAGING:-bin/image}

builder=${IMAGE_BUILDER:-}
if [[ -z $builder ]]; then
	for b in podman buildah docker; do
		if command -v "$b" >/dev/null; then builder=$b; break; fi
	done
fi
case $builder in
podman | buildah | docker) command -v "$builder" >/dev/null || { echo "make image: IMAGE_BUILDER=$builder is not installed" >&2; exit 1; } ;;
"") echo "make image: no container builder found: install podman (apt-get install podman), buildah or docker" >&2; exit 1 ;;
*) echo "make image: IMAGE_BUILDER must be podman, buildah or docker, not $builder" >&2; exit 1 ;;
esac

VERSION=$version deploy/stage-image.sh "$staging"
args=(--file deploy/Containerfile "${tags[@]}"
	--build-arg "VERSION=$version"
	--build-arg "REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
	--build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
case $builder in
podman) podman build --format docker --layers=false "${args[@]}" "$staging" ;;
buildah) buildah build --format docker "${args[@]}" "$staging" ;;
docker) docker build "${args[@]}" "$staging" ;;
esac
echo "built ${IMAGE:-referrald:$tag and referrald:latest} with $builder"
