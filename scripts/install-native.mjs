#!/usr/bin/env node
// npm's install step: builds the native addon unless a prebuilt or an
// up-to-date build is there (node-gyp-build's rules), with the toolchain
// npm provides (node-gyp and Node's headers). When the build cannot run, one
// message names the Debian packages it needs. `--check` only says whether a
// build is needed (exit 0 up to date, 1 needed), for scripts/setup.sh.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const root = join(dirname(new URL(import.meta.url).pathname), '..');
const native = join(root, 'native');
const require = createRequire(import.meta.url);

/** Newest modification time under dir (build output left out). */
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'build' || e.name === 'prebuilds') continue;
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function builtPath() {
  let gyp;
  try {
    gyp = require('node-gyp-build');
  } catch {
    // node_modules from before the dependency: the build folder only.
    const p = join(native, 'build', 'Release', 'faultc_native.node');
    return existsSync(p) ? p : undefined;
  }
  try {
    return gyp.path(native);
  } catch {
    return undefined;
  }
}

function upToDate() {
  const p = builtPath();
  if (p === undefined) return false;
  // A prebuilt binary is taken as it is; a local build must be newer than the sources.
  return p.includes(`${'/'}prebuilds${'/'}`) || statSync(p).mtimeMs >= newest(native);
}

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const header = (h) => ['/usr/include', '/usr/local/include', '/usr/include/x86_64-linux-gnu', '/usr/include/aarch64-linux-gnu'].some((d) => existsSync(join(d, h)));

/** Debian packages of the build toolchain that are missing here. */
function missingPackages() {
  const need = [
    ['g++', () => has('g++')],
    ['make', () => has('make')],
    ['python3', () => has('python3')],
    ['pkg-config', () => has('pkg-config')],
    ['libbpf-dev', () => header('bpf/libbpf.h')],
    ['libelf-dev', () => header('libelf.h')],
    ['zlib1g-dev', () => header('zlib.h')],
    ['libcurl4-openssl-dev', () => header('curl/curl.h')],
    // The BPF programs' subskeleton headers (native/bpf/subskel.sh).
    ['clang', () => has('clang')],
    ['bpftool', () => has('bpftool') || existsSync('/usr/sbin/bpftool')],
  ];
  return need.filter(([, ok]) => !ok()).map(([name]) => name);
}

if (process.argv.includes('--check')) process.exit(upToDate() ? 0 : 1);
if (process.platform !== 'linux') {
  console.error('faultc: the native addon needs Linux (userfaultfd and BPF); only check, compile and explain work here');
  process.exit(1);
}
if (upToDate()) process.exit(0);

const missing = missingPackages();
if (missing.length) {
  console.error(`faultc: cannot build the native addon: missing ${missing.join(', ')}.\n` + `On Debian or Ubuntu: apt-get install ${missing.join(' ')}\nthen: npm rebuild faultc`);
  process.exit(1);
}
// npm puts its own node-gyp on PATH for install scripts; a checkout has it in node_modules.
const gyp = has('node-gyp') ? ['node-gyp'] : ['npx', '--no-install', 'node-gyp'];
try {
  execFileSync(gyp[0], [...gyp.slice(1), 'rebuild', '-C', native, '--silent', '-j', '2'], { stdio: 'inherit' });
} catch {
  console.error(`faultc: building the native addon failed (output above). It needs: apt-get install g++ make python3 pkg-config libbpf-dev libelf-dev zlib1g-dev libcurl4-openssl-dev clang bpftool`);
  process.exit(1);
}
