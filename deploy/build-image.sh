#!/bin/sh
# deploy/build-image.sh [TAG] — builds the release binary and the obevents container image
# (default tag obevents:latest) with podman, or docker when podman is absent. No base image
# is pulled: the image is FROM scratch over the root filesystem deploy/rootfs.sh lays out.
set -eu
tag=${1:-obevents:latest}
cd "$(dirname "$0")/.."
engine=${ENGINE:-$(command -v podman || command -v docker || true)}
if [ -z "$engine" ]; then
    echo "error: neither podman nor docker found (set ENGINE)" >&2
    exit 2
fi
cargo build --release --locked
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
sh deploy/rootfs.sh target/release/obevents "$ctx"
"$engine" build --tag "$tag" --file "$ctx/Containerfile" "$ctx"
echo "built $tag"
