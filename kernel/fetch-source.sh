#!/usr/bin/env bash
# Fetch Debian's linux-source-6.12 (bookworm-backports) into the cache and
# unpack it once.  The system's apt configuration is left alone: a private
# sources list, list directory and package cache live under the cache dir,
# and the mirror URI is read from the machine's own debian.sources.
#
# Usage: kernel/fetch-source.sh            prints the pristine tree's path
# Env:   FAULTC_CACHE        cache root (default: <repo>/.cache)
#        FAULTC_KERNEL_DEB   use this linux-source-6.12 .deb instead of apt
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${FAULTC_CACHE:-$repo/.cache}/kernel
package=linux-source-6.12
# The version the patch series is written against; apt falls back to the
# newest one available (with a warning) if the mirror no longer has it.
pinned_version=6.12.95-1~bpo12+1
src=$cache/src/$package
stamp=$src/.faultc-source

log() { echo "fetch-source: $*" >&2; }

if [ -f "$stamp" ] && [ -f "$src/Makefile" ]; then
	echo "$src"
	exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/fetch.lock"
flock 9
if [ -f "$stamp" ] && [ -f "$src/Makefile" ]; then
	echo "$src"
	exit 0
fi

mirror_uri() {
	local f=/etc/apt/sources.list.d/debian.sources
	if [ -f "$f" ]; then
		# First stanza whose suites include the plain release codename.
		awk -v codename="$1" '
			/^$/ { if (uri != "" && hit) { print uri; exit } uri = ""; hit = 0 }
			/^URIs:/ { uri = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == codename) hit = 1 }
			END { if (uri != "" && hit) print uri }
		' "$f" | head -n1
		return
	fi
	# Older one-line format.
	awk -v codename="$1" '$1 == "deb" && $3 == codename { print $2; exit }' \
		/etc/apt/sources.list 2>/dev/null || true
}

find_deb() {
	ls -1 "$cache"/${package}_*.deb 2>/dev/null | sort -V | tail -n1 || true
}

deb=${FAULTC_KERNEL_DEB:-}
if [ -z "$deb" ]; then
	deb=$(find_deb)
fi
if [ -z "$deb" ]; then
	. /etc/os-release
	codename=${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}
	uri=$(mirror_uri "$codename")
	[ -n "$uri" ] || { log "no apt mirror for $codename found in the system's sources"; exit 1; }
	apt_dir=$cache/apt
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/etc"
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	echo "deb [signed-by=$keyring] $uri $codename-backports main" >"$apt_dir/etc/sources.list"
	apt_opts=(
		-o "Dir::Etc::SourceList=$apt_dir/etc/sources.list"
		-o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$apt_dir/lists"
		-o "Dir::Cache=$apt_dir"
		-o "Dir::Cache::archives=$apt_dir/archives"
		-o APT::Get::List-Cleanup=0
		-o APT::Sandbox::User=root
	)
	log "apt-get update ($codename-backports, private lists in $apt_dir)"
	apt-get "${apt_opts[@]}" update -qq >&2
	log "apt-get download $package"
	(cd "$cache" &&
		{ apt-get "${apt_opts[@]}" download "$package=$pinned_version" >&2 ||
			{ log "WARNING: $package=$pinned_version is gone, taking the newest"; \
			  apt-get "${apt_opts[@]}" download "$package" >&2; }; })
	deb=$(find_deb)
	[ -n "$deb" ] || { log "apt-get download produced no .deb"; exit 1; }
fi

log "unpacking $deb"
tmp=$(mktemp -d "$cache/unpack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dpkg -x "$deb" "$tmp/deb"
tarball=$(ls -1 "$tmp"/deb/usr/src/linux-source-*.tar.* | head -n1)
[ -n "$tarball" ] || { log "no source tarball inside $deb"; exit 1; }
mkdir -p "$tmp/tree"
tar -xf "$tarball" -C "$tmp/tree"
top=$(ls -1 "$tmp/tree" | head -n1)
[ -f "$tmp/tree/$top/Makefile" ] || { log "unexpected tarball layout"; exit 1; }
basename "$deb" >"$tmp/tree/$top/.faultc-source"
mkdir -p "$cache/src"
rm -rf "$src"
mv "$tmp/tree/$top" "$src"
log "pristine tree ready"
echo "$src"
