#!/usr/bin/env bash
# Builds statically linked `rill-broker` and `rill` binaries and the Docker image
# (FROM scratch, see deploy/Dockerfile). Needs only cargo/rustup and docker; the
# Docker engine never pulls anything.
#
# Usage: deploy/build-image.sh [TAG]        TAG defaults to rill:dev
#
# Static linking, first that works:
#   1. the musl target (x86_64-unknown-linux-musl; `rustup target add` is tried
#      when it is not installed), when a musl C compiler is installed
#      (x86_64-linux-musl-gcc, or musl-gcc from Debian's musl-tools): zstd-sys
#      compiles C for the target;
#   2. glibc with crt-static (RUSTFLAGS="-C target-feature=+crt-static").
# Set RILL_STATIC=gnu to skip straight to 2. Binaries are built without debug
# info and stripped (the workspace's release profile keeps debug = 1).
# CARGO_TARGET_DIR is honoured as usual.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
tag=${1:-rill:dev}
target_dir=${CARGO_TARGET_DIR:-$repo/target}
arch=$(rustc -vV | sed -n 's/^host: \([^-]*\)-.*/\1/p')

say() { printf 'build-image: %s\n' "$*" >&2; }

musl=$arch-unknown-linux-musl
gnu=$arch-unknown-linux-gnu
musl_cc=$(command -v "$arch-linux-musl-gcc" || command -v musl-gcc || true)
if [[ ${RILL_STATIC:-musl} != gnu ]] && [[ -n $musl_cc ]] &&
    { rustup target list --installed 2>/dev/null | grep -qx "$musl" ||
      rustup target add "$musl"; }; then
    triple=$musl
    flags=${RUSTFLAGS:-}
    export "CC_${musl//-/_}=$musl_cc"
else
    say "not using $musl (no musl C compiler, or RILL_STATIC=gnu); building $gnu with crt-static"
    triple=$gnu
    flags="${RUSTFLAGS:-} -C target-feature=+crt-static"
fi

say "cargo build --release --target $triple -p rill-cli"
(
    cd "$repo"
    # --target keeps RUSTFLAGS off build scripts and proc macros.
    RUSTFLAGS="$flags" CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=symbols \
        cargo build --release --locked --target "$triple" -p rill-cli
)
bin=$target_dir/$triple/release

# A dynamic binary would not start in a scratch image: refuse it here.
if command -v file >/dev/null; then
    for b in rill-broker rill; do
        file -b "$bin/$b" | grep -q static || { say "$bin/$b is not statically linked"; exit 1; }
    done
fi

ctx=$(mktemp -d "${TMPDIR:-/tmp}/rill-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
cp "$bin/rill-broker" "$bin/rill" "$ctx/"
cp "$here/rill-docker.toml" "$ctx/rill.toml"
cp "$here/Dockerfile" "$ctx/Dockerfile"
mkdir "$ctx/data"

say "docker build -t $tag"
docker build -t "$tag" "$ctx"
docker run --rm --entrypoint /usr/local/bin/rill-broker "$tag" --version
docker image ls "$tag"
