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
  # trace held against perf and bpftrace; the heatmap rendered to PNG
  linux-perf bpftrace librsvg2-bin
  # http sources: libcurl in the handler threads, a real nginx in the tests
  libcurl4-openssl-dev nginx
  # editors the language server and syntax files are tested in
  neovim vim
  # CRIU, built from ../shared/vendor by scripts/criu.sh (lazy-pages tests, bench)
  build-essential libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev protobuf-compiler python3-protobuf
  libnl-3-dev libnet1-dev libcap-dev libaio-dev libbsd-dev libgnutls28-dev libnftables-dev uuid-dev libdrm-dev
  # libfaultc (manifest reading) and the guard benchmark's reference allocator
  libjansson-dev electric-fence git time
  # faultc guard: allocation sites unwound with libunwind's cached fast trace
  libunwind-dev
  # LLNL UMap, built from ../shared/vendor by scripts/umap.sh (bench --peers)
  cmake
  # npm run lint: C formatting and shell scripts
  clang-format shellcheck
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

# Each build step runs only when its inputs changed since its last output.
stamp=dist/.tsc-stamp
if [ ! -f "$stamp" ] || [ -n "$(find base abi grammar compiler codegen runtime bench tsconfig.json package.json -newer "$stamp" \( -name '*.ts' -o -name '*.json' \) -print -quit)" ]; then
  echo "setup: compiling TypeScript"
  npx tsc -p tsconfig.json && touch "$stamp"
else
  echo "setup: TypeScript build up to date"
fi
node scripts/make-man.mjs   # man/faultc.1, man/faultc-pfp.5, completion/faultc.bash
if node scripts/install-native.mjs --check; then
  echo "setup: native addon up to date"
else
  echo "setup: building the native addon"
  node scripts/install-native.mjs
fi

if [ -f scripts/make-example-data.mjs ]; then
  node scripts/make-example-data.mjs
fi
echo "setup: done"
