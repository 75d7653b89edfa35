#!/usr/bin/env bash
# Run a command inside the faultc guest kernel under QEMU (TCG).
#
#   kernel/run-in-vm.sh [options] [--] command [args...]
#
# The guest chroots into the host's root (shared read-only over 9p), enters
# the caller's working directory and runs the command with the caller's
# PATH, HOME and friends.  The command's stdout and stderr arrive on this
# script's stdout and stderr; its exit status is this script's exit status.
#
# Exit status:
#   <n>   the command's own status (128+signal if it was killed)
#   120   the command succeeded but the kernel logged a WARNING, BUG, Oops,
#         general protection fault or similar (see --allow-warnings)
#   125   the guest died (panic, hang past the timeout) or the harness failed;
#         the path of the full console log is printed
#
# Options (and their environment equivalents):
#   --kernel PATH      bzImage to boot (FAULTC_KERNEL; default: kernel/build.sh's cached image)
#   --timeout SECONDS  wall-clock limit for the whole VM (FAULTC_VM_TIMEOUT, default 600)
#   --share DIR        share DIR read-write at the same path (repeatable;
#                      FAULTC_VM_SHARE is a ':'-separated list).  <repo>/.cache/vm-out
#                      is always shared and named by FAULTC_VM_OUT in the guest.
#   --mem SIZE         guest memory (FAULTC_VM_MEM, default 2G)
#   --cpus N           guest CPUs (FAULTC_VM_CPUS, default 2)
#   --allow-warnings   do not turn a kernel warning into status 120 (FAULTC_VM_ALLOW_WARNINGS=1)
# Environment only:
#   FAULTC_VM_VERBOSE=1  stream the kernel console to stderr
#   FAULTC_VM_ENV        extra variable names to pass into the guest (space-separated);
#                        PATH HOME USER LOGNAME LANG LC_* TERM TZ NO_COLOR FORCE_COLOR CI
#                        and every FAULTC_* and NODE_* variable always pass
#   FAULTC_VM_DMESG=FILE copy the guest's kernel log (dmesg) to FILE
#
# In the guest: /tmp, /run and /dev/shm are fresh tmpfs; /sys/fs/bpf (bpffs)
# and /sys/kernel/tracing (tracefs) are mounted; FAULTC_IN_VM=1 is set; stdin
# is /dev/null.  Files the command needs must be outside /tmp or in a share.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${FAULTC_CACHE:-$repo/.cache}
kernel=${FAULTC_KERNEL:-}
timeout_s=${FAULTC_VM_TIMEOUT:-600}
mem=${FAULTC_VM_MEM:-2G}
cpus=${FAULTC_VM_CPUS:-2}
allow_warnings=${FAULTC_VM_ALLOW_WARNINGS:-0}
warning_status=120
died_status=125

say() { echo "faultc-vm: $*" >&2; }
die() { say "$*"; exit $died_status; }

shares=()
if [ -n "${FAULTC_VM_SHARE:-}" ]; then
	IFS=: read -r -a shares <<<"$FAULTC_VM_SHARE"
fi
while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) kernel=$2; shift 2 ;;
	--timeout) timeout_s=$2; shift 2 ;;
	--share) shares+=("$2"); shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--allow-warnings) allow_warnings=1; shift ;;
	--) shift; break ;;
	-*) die "unknown option $1" ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || die "usage: kernel/run-in-vm.sh [options] [--] command [args...]"

if [ -z "$kernel" ]; then
	kernel=$("$here/build.sh") || die "kernel build failed"
fi
[ -f "$kernel" ] || die "no kernel image at $kernel"

# The initramfs holds only the static init; cached by the init source's hash.
initramfs() {
	local key dir tmp
	key=$(sha256sum <"$here/vm-init.c" | cut -c1-16)
	dir=$cache/kernel/initramfs/$key
	if [ ! -f "$dir/initramfs.cpio" ]; then
		mkdir -p "$cache/kernel/initramfs"
		tmp=$(mktemp -d "$cache/kernel/initramfs/.new.XXXXXX")
		mkdir -p "$tmp/root/dev" "$tmp/root/proc" "$tmp/root/sys" "$tmp/root/root" "$tmp/root/ctl"
		gcc -static -Os -Wall -o "$tmp/root/init" "$here/vm-init.c" >&2 ||
			{ rm -rf "$tmp"; die "cannot build the VM init (gcc -static needs libc6-dev)"; }
		(cd "$tmp/root" && find . -print0 | LC_ALL=C sort -z |
			cpio --null -o -H newc --quiet --reproducible >"$tmp/initramfs.cpio")
		rm -rf "$tmp/root"
		if ! mv -T "$tmp" "$dir" 2>/dev/null; then
			rm -rf "$tmp" # another run built it first
		fi
	fi
	echo "$dir/initramfs.cpio"
}
initrd=$(initramfs)

ctl=$(mktemp -d /tmp/faultc-vm.XXXXXX)
job=$ctl/job # shared with the guest as the control share
mkdir "$job"
tail_pid=
qemu_pid=
cleanup() {
	[ -z "$tail_pid" ] || kill "$tail_pid" 2>/dev/null || true
	# A harness that is killed (a test's timeout, ^C) takes its guest along.
	[ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true
	rm -rf "$ctl"
}
trap cleanup EXIT
trap 'exit 125' TERM INT HUP

out_dir=$cache/vm-out
mkdir -p "$out_dir"
shares=("$out_dir" "${shares[@]}")
# A checkout under a folder the guest replaces with tmpfs (a CI clone in /tmp)
# would be invisible there: share it at its own path.
case "$(pwd -P)/" in
/tmp/* | /run/* | /dev/shm/*)
	case "$(pwd -P)/" in
	"$(cd "$repo" && pwd -P)"/*) shares+=("$repo") ;;
	*) shares+=("$(pwd -P)") ;;
	esac ;;
esac

# The job: argv, working directory, environment and shares, NUL-separated.
printf '%s\0' "$@" >"$job/argv"
pwd -P >"$job/cwd"
{
	names=(PATH HOME USER LOGNAME LANG TERM TZ NO_COLOR FORCE_COLOR CI)
	# FAULTC_VM_ENV is a space-separated list of names (each checked below).
	read -r -a extra <<<"${FAULTC_VM_ENV:-}"
	names+=("${extra[@]}")
	mapfile -t -O "${#names[@]}" names < <(compgen -e | grep -E '^(FAULTC_|NODE_|LC_)' || true)
	for name in "${names[@]}"; do
		case "$name" in FAULTC_IN_VM | FAULTC_VM_OUT) continue ;; esac
		[[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "FAULTC_VM_ENV: bad variable name '$name'"
		[ -z "${!name+x}" ] || printf '%s=%s\0' "$name" "${!name}"
	done
	printf '%s\0' FAULTC_IN_VM=1 "FAULTC_VM_OUT=$out_dir"
} >"$job/env"
virtfs=()
: >"$job/shares"
i=0
for s in "${shares[@]}"; do
	[ -n "$s" ] || continue
	[ -d "$s" ] || die "share $s is not a directory"
	s=$(cd "$s" && pwd -P)
	printf '%s\0' "$s" >>"$job/shares"
	virtfs+=(-virtfs "local,path=$s,mount_tag=share$i,security_model=none,multidevs=remap")
	i=$((i + 1))
done

logs=$cache/vm-logs
mkdir -p "$logs"
# Keep the newest 50 console logs.
ls -1t "$logs" 2>/dev/null | tail -n +50 | while read -r old; do rm -f "$logs/$old"; done
log=$logs/console-$(date +%Y%m%dT%H%M%S)-$$.log
: >"$log"
if [ "${FAULTC_VM_VERBOSE:-0}" = 1 ]; then
	tail -n +1 -f "$log" >&2 &
	tail_pid=$!
fi

# The command's stdout and stderr come out of ttyS1 and ttyS2 into FIFOs
# relayed by cat: QEMU cannot reopen our stdout if it is a socket.
mkfifo "$ctl/stdout" "$ctl/stderr"
cat "$ctl/stdout" &
out_pid=$!
cat "$ctl/stderr" >&2 &
err_pid=$!

cmdline="console=ttyS0 loglevel=7 panic=-1 oops=panic mitigations=off"
cmdline+=" 8250.nr_uarts=4 rdinit=/init tsc=reliable no_timer_check"

set +e
timeout -k 10 "$timeout_s" qemu-system-x86_64 \
	-nodefaults -no-user-config -display none -no-reboot \
	-machine pc -accel tcg,thread=multi -cpu max -smp "$cpus" -m "$mem" \
	-kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
	-chardev "file,id=console,path=$log" -serial chardev:console \
	-chardev "file,id=out,path=$ctl/stdout" -serial chardev:out \
	-chardev "file,id=err,path=$ctl/stderr" -serial chardev:err \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
	-virtfs "local,path=$job,mount_tag=faultcctl,security_model=none,multidevs=remap" \
	"${virtfs[@]}" </dev/null 2>>"$log" &
qemu_pid=$!
wait $qemu_pid
qemu_status=$?
qemu_pid=
# If QEMU died before opening the FIFOs, the relays still wait for a writer:
# an O_RDWR open never blocks and lets them reach end-of-file.
exec 3<>"$ctl/stdout" 4<>"$ctl/stderr"
exec 3>&- 4>&-
wait $out_pid $err_pid
set -e

if [ -n "${FAULTC_VM_DMESG:-}" ] && [ -f "$job/dmesg" ]; then
	cp "$job/dmesg" "$FAULTC_VM_DMESG"
fi
if [ ! -f "$job/status" ]; then
	if [ $qemu_status = 124 ] || [ $qemu_status = 137 ]; then
		say "the guest did not finish within $timeout_s s"
	else
		say "the guest died (qemu exit status $qemu_status)"
	fi
	tail -n 30 "$log" | sed 's/^/  | /' >&2
	say "full console log: $log"
	exit $died_status
fi
status=$(cat "$job/status")

# Kernel problems the command may not have noticed itself.
pattern='WARNING:|BUG:|Oops|general protection|Kernel panic|UBSAN:|KASAN:|list_(add|del) corruption|INFO: task .* blocked'
if [ -f "$job/dmesg" ] && grep -Eq "$pattern" "$job/dmesg"; then
	say "KERNEL-WARNING: the guest kernel logged:"
	grep -E -A3 "$pattern" "$job/dmesg" | head -n 40 | sed 's/^/  | /' >&2
	cp "$job/dmesg" "$log.dmesg"
	say "full kernel log: $log.dmesg"
	if [ "$status" = 0 ] && [ "$allow_warnings" != 1 ]; then
		exit $warning_status
	fi
fi
exit "$status"
