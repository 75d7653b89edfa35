#!/usr/bin/env bash
# Build the faultc guest kernel: pristine linux-source-6.12 + kernel/patches/*
# + tinyconfig + kernel/config.fragment.  The image is cached under
# .cache/kernel/images/<hash>/ where <hash> covers the patches, the fragment,
# this script and the source package; a cached image is reused at once.
#
# Usage: kernel/build.sh                 build (or reuse) and print the bzImage path
#        kernel/build.sh --print-hash    print the cache key only
#        kernel/build.sh --step-keys     print each patch's bisect step key
#        kernel/build.sh --image-dir     build (or reuse) and print the image dir
#        kernel/build.sh --dev <tree>    (re)build an existing tree in place, print its bzImage
#        kernel/build.sh --prepare-dev <tree>
#                                        copy the pristine tree to <tree>, make it a git
#                                        repository, apply the patches as commits
#        kernel/build.sh --bisect        build the kernel after each patch of the series
#                                        (tinyconfig + fragment), reusing the release tree;
#                                        a step already recorded (kernel/bisect.txt or the
#                                        cache) is not built again; prints the record
# Env:   FAULTC_CACHE (default <repo>/.cache), FAULTC_JOBS (default nproc)
# Everything but the final path goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${FAULTC_CACHE:-$repo/.cache}/kernel
fragment=$here/config.fragment
jobs=${FAULTC_JOBS:-$(nproc)}

log() { echo "build: $*" >&2; }
die() { echo "build: error: $*" >&2; exit 1; }

# The series in order; 0000-cover-letter.patch holds no diff.
patches() {
	local p
	for p in "$here"/patches/*.patch; do
		[ -e "$p" ] || continue
		case "$p" in */0000-cover-letter.patch) continue ;; esac
		printf '%s\n' "$p"
	done | LC_ALL=C sort
}

# The cache key: the source package, the patches (names and contents), the
# fragment and this script.
cache_key() {
	local src=$1
	{
		echo "source $(cat "$src/.faultc-source")"
		for p in $(patches); do
			echo "patch $(basename "$p") $(sha256sum <"$p" | cut -d' ' -f1)"
		done
		echo "fragment $(sha256sum <"$fragment" | cut -d' ' -f1)"
		echo "script $(sha256sum <"$here/build.sh" | cut -d' ' -f1)"
	} | sha256sum | cut -c1-16
}

# A bisect step's key: the source package, the fragment and the patches up
# to and including patch $1 (1-based). This script is left out, so a record
# stays valid while the series does.
step_key() {
	local src=$1 n=$2 i=0 p
	{
		echo "source $(cat "$src/.faultc-source")"
		echo "fragment $(sha256sum <"$fragment" | cut -d' ' -f1)"
		for p in $(patches); do
			i=$((i + 1))
			[ $i -le "$n" ] || break
			echo "patch $(basename "$p") $(sha256sum <"$p" | cut -d' ' -f1)"
		done
	} | sha256sum | cut -c1-16
}

apply_patches() {
	local tree=$1 p
	for p in $(patches); do
		log "applying $(basename "$p")"
		patch -d "$tree" -p1 --forward --batch --no-backup-if-mismatch -s <"$p" ||
			die "$(basename "$p") does not apply"
	done
}

# tinyconfig + fragment, then check that olddefconfig kept every option.
configure() {
	local tree=$1
	log "configuring (tinyconfig + $(basename "$fragment"))"
	make -C "$tree" -s tinyconfig >&2
	(cd "$tree" && KCONFIG_CONFIG=.config scripts/kconfig/merge_config.sh -m -O . .config "$fragment" >/dev/null)
	make -C "$tree" -s olddefconfig >&2
	verify_config "$tree/.config"
}

# verify_config <.config> [<tree>]: with a tree (bisecting), options of the
# hook's own section that no Kconfig of the tree defines yet are passed over.
verify_config() {
	local config=$1 tree=${2:-} line name value dropped=0 hook=0
	while IFS= read -r line; do
		[[ $line == "# --- faultc fault hook"* ]] && hook=1
		if [ -n "$tree" ] && [ $hook = 1 ] && [[ $line =~ ^(# )?(CONFIG_[A-Za-z0-9_]+)[=\ ] ]] &&
			! grep -rqsx --include='Kconfig*' "config ${BASH_REMATCH[2]#CONFIG_}" "$tree"; then
			continue
		fi
		if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
			name=${BASH_REMATCH[1]}
			value=${BASH_REMATCH[2]}
			if ! grep -qxF "$name=$value" "$config"; then
				log "config option dropped: $name=$value (now: $(grep -E "^(# )?${name}[= ]" "$config" || echo unset))"
				dropped=1
			fi
		elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
			name=${BASH_REMATCH[1]}
			if grep -q "^$name=" "$config"; then
				log "config option should be unset: $name"
				dropped=1
			fi
		fi
	done <"$fragment"
	[ $dropped = 0 ] || die "kernel/config.fragment options did not survive olddefconfig (missing dependencies?)"
}

# On a terminal, kbuild's steps are counted on one line (of as many as the
# last build took); elsewhere (CI, a pipe) make stays silent but for errors.
make_image() {
	local tree=$1 last=0
	log "make -j$jobs bzImage in $tree"
	if [ -t 2 ]; then
		[ -f "$cache/build-steps" ] && last=$(cat "$cache/build-steps")
		mkdir -p "$cache"
		make -C "$tree" -j"$jobs" bzImage 2>&1 |
			awk -v last="$last" -v count_file="$cache/build-steps.new" -f "$here/make-progress.awk"
		mv -f "$cache/build-steps.new" "$cache/build-steps"
	else
		make -C "$tree" -j"$jobs" -s bzImage >&2
	fi
}

case "${1:-}" in
--dev)
	tree=${2:?--dev needs a tree}
	[ -f "$tree/Makefile" ] || die "$tree is not a kernel tree"
	tree=$(cd "$tree" && pwd)
	if [ ! -f "$tree/.config" ] || [ "$fragment" -nt "$tree/.config" ]; then
		configure "$tree"
	else
		verify_config "$tree/.config"
	fi
	make_image "$tree"
	echo "$tree/arch/x86/boot/bzImage"
	exit 0
	;;
--prepare-dev)
	tree=${2:?--prepare-dev needs a target directory}
	[ ! -e "$tree" ] || die "$tree already exists"
	src=$("$here/fetch-source.sh")
	log "copying the pristine tree to $tree"
	cp -a "$src" "$tree"
	(
		cd "$tree"
		# Debian's tarball ignores every top-level entry (its packaging
		# repository's rule); drop that so new files show up in git.
		sed -i '/^# Debian packaging/,/^!\/debian\//d' .gitignore
		git init -q
		# -f: the top-level `.*` rule would leave out the tree's own dotfiles
		# (the selftests' .gitignore files, which the series edits).
		git add -A -f
		git -c user.name=faultc -c user.email=faultc@localhost commit -q -m "linux $(cat .faultc-source)"
		for p in $(patches); do
			git -c user.name=faultc -c user.email=faultc@localhost am -q "$p" ||
				die "$(basename "$p") does not apply with git am"
		done
	) >&2
	configure "$tree"
	log "dev tree ready: kernel/build.sh --dev $tree"
	echo "$tree"
	exit 0
	;;
esac

src=$("$here/fetch-source.sh")
key=$(cache_key "$src")
if [ "${1:-}" = --print-hash ]; then
	echo "$key"
	exit 0
fi
if [ "${1:-}" = --step-keys ]; then
	i=0
	for p in $(patches); do
		i=$((i + 1))
		echo "$(basename "$p") $(step_key "$src" $i)"
	done
	exit 0
fi
images=$cache/images
image_dir=$images/$key
print_result() {
	if [ "${1:-}" = --image-dir ]; then echo "$image_dir"; else echo "$image_dir/bzImage"; fi
}
if [ -f "$image_dir/bzImage" ] && [ "${1:-}" != --bisect ]; then
	print_result "${1:-}"
	exit 0
fi

mkdir -p "$cache" "$images"
exec 8>"$cache/build.lock"
if ! flock -n 8; then
	log "another build holds $cache/build.lock; waiting"
	flock 8
fi
if [ -f "$image_dir/bzImage" ] && [ "${1:-}" != --bisect ]; then
	print_result "${1:-}"
	exit 0
fi

build_root=$cache/build
tree=$build_root/$key

# The release build: the pristine tree linked into $tree, every patch, the
# image and its companions into $image_dir.
release_build() {
	local start tmp
	start=$(date +%s)
	# One build tree at a time (each is ~2.6 GB once built).
	rm -rf "$build_root"
	mkdir -p "$build_root"
	log "linking the pristine tree into $tree"
	# Hard links are safe: patch(1) and make replace files rather than writing
	# into them, so the pristine tree is never modified.
	cp -al "$src" "$tree"
	apply_patches "$tree"
	configure "$tree"
	make_image "$tree"
	# A bisect that had to rebuild the tree leaves an existing image alone.
	if [ -f "$image_dir/bzImage" ]; then
		return 0
	fi

	tmp=$(mktemp -d "$images/.new.XXXXXX")
	chmod 755 "$tmp"
	cp "$tree/arch/x86/boot/bzImage" "$tree/.config" "$tree/System.map" "$tmp/"
	mv "$tmp/.config" "$tmp/config"
	make -C "$tree" -s headers_install INSTALL_HDR_PATH="$tmp/headers" >&2
	if command -v bpftool >/dev/null; then
		bpftool btf dump file "$tree/vmlinux" format c >"$tmp/vmlinux.h"
	fi
	patches | xargs -r -n1 basename >"$tmp/patches"
	rm -rf "$image_dir"
	mv "$tmp" "$image_dir"
	log "built in $(($(date +%s) - start)) s: $image_dir"
}

# step_known <key>: the step built before (the committed record or the cache).
step_known() {
	grep -qs "^ok [^ ]* $1 " "$here/bisect.txt" "$cache/bisect/steps" 2>/dev/null
}

# Bisectability: the release tree holds every patch; reverse the last one,
# build, and so on down to the first, so each patch is built on its own
# with what precedes it (incrementally: the tree is reused). Each step's
# result is kept by its key, so a changed patch rebuilds only the steps
# from it to the end; the record lists every step, oldest first.
bisect() {
	local list keys i n t rc failed=0 lowest=0 out line
	mapfile -t list < <(patches)
	n=${#list[@]}
	keys=()
	for ((i = 1; i <= n; i++)); do
		keys[i]=$(step_key "$src" $i)
		if [ $lowest = 0 ] && ! step_known "${keys[i]}"; then lowest=$i; fi
	done
	mkdir -p "$cache/bisect"
	touch "$cache/bisect/steps"
	if [ $lowest != 0 ]; then
		log "bisect: steps from $(basename "${list[$lowest - 1]}") on are not recorded; building them"
		if [ ! -f "$tree/vmlinux" ] || [ -e "$tree/.faultc-bisected" ]; then
			release_build
		fi
		: >"$tree/.faultc-bisected"
		step_known "${keys[n]}" || echo "ok $(basename "${list[n - 1]}") ${keys[n]} (the release build)" >>"$cache/bisect/steps"
		for ((i = n - 1; i >= lowest; i--)); do
			patch -d "$tree" -p1 -R --batch --no-backup-if-mismatch -s <"${list[$i]}" ||
				die "$(basename "${list[$i]}") does not reverse"
			step_known "${keys[i]}" && continue
			log "bisect: building with $(basename "${list[$i - 1]}") the last patch"
			t=$(date +%s)
			rc=0
			(make -C "$tree" -s olddefconfig >&2 && verify_config "$tree/.config" "$tree" &&
				make -C "$tree" -j"$jobs" -s bzImage >&2) || rc=$?
			if [ $rc = 0 ]; then
				echo "ok $(basename "${list[$i - 1]}") ${keys[i]} $(($(date +%s) - t)) s" >>"$cache/bisect/steps"
			else
				log "bisect: FAIL $(basename "${list[$i - 1]}") (make exit $rc)"
				failed=1
			fi
		done
	fi
	[ $failed = 0 ] || die "a patch of the series does not build on its own"
	out=$cache/bisect/$key.txt
	{
		echo "# kernel/build.sh --bisect: tinyconfig + $(basename "$fragment") on $(cat "$src/.faultc-source"),"
		echo "# each patch built with only the ones before it; ok <patch> <step key> <time>"
		for ((i = 1; i <= n; i++)); do
			line=$(grep -hs "^ok [^ ]* ${keys[i]} " "$cache/bisect/steps" "$here/bisect.txt" | head -1)
			echo "$line"
		done
	} >"$out.new"
	mv "$out.new" "$out"
	cat "$out" >&2
	echo "$out"
}

if [ "${1:-}" = --bisect ]; then
	bisect
	exit 0
fi

release_build
print_result "${1:-}"
