#!/usr/bin/env bash
# Build LLNL UMap (the uffd engine's peer in `npm run bench -- --peers`) from
# ../shared/vendor/umap-*.tar.gz into $FAULTC_CACHE/umap/<hash>/ once, keyed
# by the tarball and this script, and print the install prefix (include/,
# lib/). Everything but the final path goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
vendor=${FAULTC_VENDOR:-$repo/../shared/vendor}
cache=${FAULTC_CACHE:-$repo/.cache}/umap

log() { echo "umap: $*" >&2; }
die() { echo "umap: error: $*" >&2; exit 1; }

tarball=$(ls -1 "$vendor"/umap-*.tar.gz 2>/dev/null | head -n1 || true)
[ -n "$tarball" ] || die "no umap-*.tar.gz in $vendor (the vendor folder beside the repository)"
command -v cmake >/dev/null || die "cmake is missing (Debian: apt-get install cmake)"

key=$({ sha256sum <"$tarball"; sha256sum <"$here/umap.sh"; } | sha256sum | cut -c1-16)
prefix=$cache/$key
if [ -f "$prefix/.built" ]; then
	echo "$prefix"
	exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ ! -f "$prefix/.built" ]; then
	work=$(mktemp -d "$cache/build.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	log "building $(basename "$tarball") (cmake, Release; about a minute)"
	tar -xzf "$tarball" -C "$work"
	cmake -S "$work/umap" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
		-DENABLE_TESTS=Off -DENABLE_LOGGING=Off -DCMAKE_INSTALL_PREFIX="$prefix" >"$work/cmake.log" 2>&1 ||
		{ tail -n 30 "$work/cmake.log" >&2; die "cmake failed"; }
	make -C "$work/build" -j"${FAULTC_JOBS:-2}" install >"$work/make.log" 2>&1 ||
		{ tail -n 30 "$work/make.log" >&2; die "build failed"; }
	touch "$prefix/.built"
fi
echo "$prefix"
