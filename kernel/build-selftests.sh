#!/usr/bin/env bash
# Build the kernel's userfaultfd selftests (tools/testing/selftests/mm:
# uffd-unit-tests, uffd-stress) from the same source and patches as the
# guest kernel, against that kernel's installed uapi headers.  They run in
# the guest, which chroots into the host root, so they link against the
# host's libc dynamically.
#
# Usage: kernel/build-selftests.sh     prints the directory holding the binaries
# Env:   FAULTC_KERNEL   the bzImage the tests are for: a cached image (tests go
#                        next to it) or a dev tree's (tests are built in the tree)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tests=(uffd-unit-tests uffd-stress)

log() { echo "build-selftests: $*" >&2; }

build_tests() { # <kernel tree> <uapi headers dir> <output dir>
	local targets=() t
	log "building ${tests[*]}"
	mkdir -p "$3"
	for t in "${tests[@]}"; do targets+=("$3/$t"); done
	make -C "$1/tools/testing/selftests/mm" -s \
		OUTPUT="$3" KHDR_INCLUDES="-isystem $2/include" "${targets[@]}" >&2
}

# FAULTC_KERNEL naming a dev tree's bzImage: build the tests in that tree.
if [ -n "${FAULTC_KERNEL:-}" ] && [ ! -d "$(dirname "$FAULTC_KERNEL")/headers" ]; then
	tree=$(cd "$(dirname "$FAULTC_KERNEL")/../../.." && pwd)
	[ -f "$tree/Makefile" ] || { log "FAULTC_KERNEL is neither a cached image nor in a kernel tree"; exit 1; }
	make -C "$tree" -s headers_install INSTALL_HDR_PATH="$tree/.faultc-headers" >&2
	build_tests "$tree" "$tree/.faultc-headers" "$tree/.faultc-selftests"
	echo "$tree/.faultc-selftests"
	exit 0
fi

if [ -n "${FAULTC_KERNEL:-}" ]; then
	image_dir=$(cd "$(dirname "$FAULTC_KERNEL")" && pwd)
else
	image_dir=$("$here/build.sh" --image-dir)
fi
out=$image_dir/selftests

done_already() {
	local t
	for t in "${tests[@]}"; do [ -x "$out/$t" ] || return 1; done
}
if done_already; then
	echo "$out"
	exit 0
fi

exec 7>"$image_dir/.selftests.lock"
flock 7
if done_already; then
	echo "$out"
	exit 0
fi

src=$("$here/fetch-source.sh")
work=$(mktemp -d "$image_dir/.selftests.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Hard links: the build only creates files, so the pristine tree stays as is.
cp -al "$src" "$work/tree"
while read -r p; do
	[ -n "$p" ] || continue
	patch -d "$work/tree" -p1 --forward --batch --no-backup-if-mismatch -s <"$here/patches/$p"
done <"$image_dir/patches"

build_tests "$work/tree" "$image_dir/headers" "$work/out"
mkdir -p "$out.new"
for t in "${tests[@]}"; do cp "$work/out/$t" "$out.new/"; done
rm -rf "$out"
mv "$out.new" "$out"
echo "$out"
