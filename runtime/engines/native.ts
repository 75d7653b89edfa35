// Loads the native addon once, the way node-gyp-build finds it:
// native/prebuilds/<platform>-<arch>/ first, then native/build/Release.
// Works from runtime/ (tests run the TypeScript) and from dist/runtime/,
// in a checkout and in an installed package.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { RuntimeError } from '../../base/errors.js';

const require = createRequire(import.meta.url);

function findPackageRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'native', 'binding.gyp'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('faultc: cannot find the package root (native/binding.gyp)');
    dir = up;
  }
  return dir;
}

export const packageRoot = findPackageRoot();
export const nativeDir = join(packageRoot, 'native');

/** Debian packages that build the addon (node-gyp's toolchain, libbpf, libelf, zlib). */
export const BUILD_PACKAGES = ['g++', 'make', 'python3', 'pkg-config', 'libbpf-dev', 'libelf-dev', 'zlib1g-dev', 'libcurl4-openssl-dev', 'clang', 'bpftool'];

export const NATIVE_MISSING_HINT =
  `build it with: npm rebuild faultc (in a checkout: npx node-gyp rebuild -C native); ` +
  `on Debian the build needs: apt-get install ${BUILD_PACKAGES.join(' ')}`;

type GypBuild = ((dir: string) => unknown) & { path(dir: string): string };

/** Path of the addon binary node-gyp-build would load, or undefined when none is built. */
export function addonPath(): string | undefined {
  let gyp: GypBuild;
  try {
    gyp = require('node-gyp-build') as GypBuild;
  } catch {
    // A checkout whose node_modules predates the dependency: the build folder.
    const built = join(nativeDir, 'build', 'Release', 'faultc_native.node');
    return existsSync(built) ? built : undefined;
  }
  try {
    return gyp.path(nativeDir);
  } catch {
    return undefined;
  }
}

let cached: unknown;

/** The addon's exports; each engine narrows the part it uses to its own types. */
export function loadNative(): unknown {
  if (cached === undefined) {
    const path = addonPath();
    if (path === undefined) {
      throw new RuntimeError('FAULTC_NATIVE_MISSING', `the native addon is not built (no ${join(nativeDir, 'build', 'Release')}/*.node); ${NATIVE_MISSING_HINT}`);
    }
    cached = require(path);
  }
  return cached;
}
