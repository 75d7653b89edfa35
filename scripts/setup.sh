#!/usr/bin/env bash
# One-time (and idempotent) set-up on Debian 12 as root: system packages,
# npm dependencies, the TypeScript build, the native addon and example data.
# The patched kernel for the VM tests is built on demand by kernel/build.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # compiler and BPF toolchain
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make g++ python3
  # kernel build and QEMU harness
  qemu-system-x86 bc flex bison libssl-dev dwarves cpio kmod rsync xz-utils patch gcc libc6-dev
  # tests: privilege dropping (setpriv), real programs to trace
  util-linux sqlite3
  # libfaultc (manifest reading) and the guard benchmark's reference allocator
  libjansson-dev electric-fence git
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 3
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

npx tsc -p tsconfig.json
npx node-gyp rebuild -C native --silent

if [ -f scripts/make-example-data.mjs ]; then
  node scripts/make-example-data.mjs
fi
echo "setup: done"
