#!/usr/bin/env bash
# Build CRIU once from the vendored source tarball and print the path of the
# `criu` binary. The build is cached under $FAULTC_CACHE/criu/<key>/ where
# <key> covers the tarball and the recipe version below; a cached binary is
# reused at once.
# Concurrent callers wait on a lock and share the one build.
#
# Usage: scripts/criu.sh              build (or reuse) and print the binary path
#        scripts/criu.sh --print-key  print the cache key only
# Env:   FAULTC_CACHE   cache root (default <repo>/.cache)
#        FAULTC_VENDOR  directory holding criu-*.tar.gz (default <repo>/../shared/vendor)
#        FAULTC_JOBS    make -j (default 2)
# Exit:  0 built/reused, 2 tarball absent (nothing to build), 1 build failed.
# Everything but the final path goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${FAULTC_CACHE:-$repo/.cache}/criu
vendor=${FAULTC_VENDOR:-$repo/../shared/vendor}
jobs=${FAULTC_JOBS:-2}

log() { echo "criu.sh: $*" >&2; }
die() { echo "criu.sh: error: $*" >&2; exit "${2:-1}"; }

tarball=$(ls -1 "$vendor"/criu-*.tar.gz 2>/dev/null | LC_ALL=C sort | tail -n 1 || true)
[ -n "$tarball" ] || die "no criu-*.tar.gz in $vendor (set FAULTC_VENDOR)" 2

# Bump when the build steps below change what ends up in the cache.
recipe=1
key=$( { sha256sum <"$tarball" | cut -d' ' -f1; echo "recipe $recipe"; } | sha256sum | cut -c1-16)
if [ "${1:-}" = --print-key ]; then
	echo "$key"
	exit 0
fi

dir=$cache/$key
bin=$dir/criu
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi

for tool in protoc-c protoc pkg-config make gcc; do
	command -v "$tool" >/dev/null || die "$tool missing: run scripts/setup.sh (installs CRIU's build dependencies)"
done

tmp=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "building CRIU from $(basename "$tarball") into $dir (about 3 minutes with -j$jobs; once)"
tar -xzf "$tarball" -C "$tmp"
src=$tmp/criu
[ -d "$src" ] || die "the tarball has no criu/ directory"
if ! make -C "$src" -j"$jobs" criu >"$tmp/build.log" 2>&1; then
	tail -n 40 "$tmp/build.log" >&2
	die "make criu failed"
fi
mkdir -p "$dir.part"
cp "$src/criu/criu" "$dir.part/criu"
# The image schemas, for readers and tests that want to cross-check a decoder.
cp -r "$src/images" "$dir.part/images"
rm -rf "$dir"
mv "$dir.part" "$dir"
log "built $bin"
echo "$bin"
