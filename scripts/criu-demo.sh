#!/usr/bin/env bash
# Dumps a real program with CRIU and restores it lazily with
# `faultc lazy-pages` (docs/criu.md). Builds CRIU on first use (about 3
# minutes, cached by scripts/criu.sh). Needs root.
#
# Usage: scripts/criu-demo.sh [MiB]    (default 256)
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-256}
[ "$(id -u)" -eq 0 ] || { echo "criu-demo: criu dump and restore need root" >&2; exit 3; }
criu=$(bash scripts/criu.sh)
work=$(mktemp -d /tmp/faultc-criu-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/img" "$work/run"
gcc -O2 -o "$work/pattern-heap" test/fixtures/criu/pattern-heap.c

echo "criu-demo: a program fills a $mib MiB heap with a pattern, then waits"
setsid -f "$work/pattern-heap" "$mib" "$work/run" </dev/null >/dev/null 2>&1
while [ ! -f "$work/run/ready" ]; do sleep 0.05; done
prog=$(sed 's/.*"pid":\([0-9]*\).*/\1/' "$work/run/ready")
"$criu" dump -t "$prog" -D "$work/img" -o dump.log
# The restore needs the pid back: wait until the dumped program is gone.
while [ -e "/proc/$prog" ]; do sleep 0.05; done
sleep 1
echo "criu-demo: dumped ($(du -sh "$work/img" | cut -f1)); restoring it lazily with faultc lazy-pages"
node dist/runtime/cli.js lazy-pages -D "$work/img" >"$work/report.txt" &
daemon=$!
while [ ! -S "$work/img/lazy-pages.socket" ]; do sleep 0.02; done
touch "$work/run/go"
"$criu" restore -D "$work/img" -d --lazy-pages -o restore.log
wait "$daemon"
cat "$work/report.txt"
while [ ! -f "$work/run/result" ]; do sleep 0.05; done
echo "criu-demo: the restored program checked every word of every page: $(cat "$work/run/result")"
