#!/bin/sh
# Subskeleton headers of the fixed BPF programs, for the native loaders:
# trace.bpf.c (every trace object) and fault_base.bpf.c (what every policy's
# fault object shares). `bpftool gen subskeleton` binds maps, programs and
# globals of an object opened elsewhere, so one header serves the objects
# compiled per policy. Run by node-gyp (binding.gyp); usage: subskel.sh OUTDIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$1
mkdir -p "$out"

bpftool=$(command -v bpftool || echo /usr/sbin/bpftool)
case "$(uname -m)" in
x86_64) arch=x86 ;;
aarch64) arch=arm64 ;;
riscv64) arch=riscv ;;
s390x) arch=s390 ;;
ppc64le) arch=powerpc ;;
*) arch=$(uname -m) ;;
esac
# <asm/types.h> lives under the multiarch folder, which clang -target bpf does not search.
multiarch=$(cc -print-multiarch 2>/dev/null || true)
set -- -O2 -g -target bpf "-D__TARGET_ARCH_$arch" -I "$here/../include" -I "$here"
if [ -n "$multiarch" ] && [ -d "/usr/include/$multiarch" ]; then
	set -- "$@" -I "/usr/include/$multiarch"
fi

for prog in trace:trace fault:fault_base; do
	name=${prog%%:*}
	src=${prog#*:}
	clang "$@" -c "$here/$src.bpf.c" -o "$out/$name.bpf.o"
	"$bpftool" gen subskeleton "$out/$name.bpf.o" name "faultc_${name}_bpf" >"$out/$name.subskel.h.tmp"
	mv "$out/$name.subskel.h.tmp" "$out/$name.subskel.h"
done
