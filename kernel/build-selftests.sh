#!/usr/bin/env bash
# Build the kernel's userfaultfd selftests (tools/testing/selftests/mm:
# uffd-unit-tests, uffd-stress) from the same source and patches as the
# guest kernel, against that kernel's installed uapi headers.  They run in
# the guest, which chroots into the host root, so they link against the
# host's libc dynamically.
#
# Usage: kernel/build-selftests.sh     prints the directory holding the binaries
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
image_dir=$("$here/build.sh" --image-dir)
out=$image_dir/selftests
tests=(uffd-unit-tests uffd-stress)

log() { echo "build-selftests: $*" >&2; }

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

log "building ${tests[*]}"
mkdir -p "$work/out"
targets=()
for t in "${tests[@]}"; do targets+=("$work/out/$t"); done
make -C "$work/tree/tools/testing/selftests/mm" -s \
	OUTPUT="$work/out" KHDR_INCLUDES="-isystem $image_dir/headers/include" \
	"${targets[@]}" >&2
mkdir -p "$out.new"
for t in "${tests[@]}"; do cp "$work/out/$t" "$out.new/"; done
rm -rf "$out"
mv "$out.new" "$out"
echo "$out"
