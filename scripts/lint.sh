#!/usr/bin/env bash
# `npm run lint`: TypeScript (biome; tsc over the sources and the tests), C
# (clang-format with .clang-format, kernel style), shell (shellcheck). Every
# check runs; the exit status is 1 when any of them found something.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

status=0
need() {
	command -v "$1" >/dev/null || { echo "lint: $1 is not installed (bash scripts/setup.sh installs it)" >&2; exit 2; }
}
files() {
	git ls-files --cached --others --exclude-standard -- "$@"
}
run() {
	echo "lint: $*"
	"$@" || status=1
}

need clang-format
need shellcheck

run npx --no-install biome lint
run npx tsc -p tsconfig.test.json

# Hand-written C only: faultc_abi.h is generated (abi/abi.ts),
# fault_policy_uapi.h copies the kernel patch's uapi header; the addon's C++
# (.cc, and headers that use napi.h or a namespace) is not kernel style.
mapfile -t c_files < <(files 'native/*.c' 'native/*.h' 'bench/*.c' | grep -v -x -e native/include/faultc_abi.h \
	-e native/include/fault_policy_uapi.h | xargs -r grep -L -E 'namespace|<napi\.h>')
run clang-format --dry-run --Werror "${c_files[@]}"

mapfile -t sh_files < <(files '*.sh')
run shellcheck -S warning "${sh_files[@]}" .ci/run

if [ "$status" -eq 0 ]; then echo "lint: clean"; fi
exit "$status"
