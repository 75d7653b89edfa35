// Loads the native addon (native/build/Release/faultc_native.node) once.
// Works from runtime/ (tests run the TypeScript) and from dist/runtime/.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

function repoRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'native', 'binding.gyp'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('faultc: cannot find the package root (native/binding.gyp)');
    dir = up;
  }
  return dir;
}

export const packageRoot = repoRoot();
export const addonPath = join(packageRoot, 'native', 'build', 'Release', 'faultc_native.node');

let cached: unknown;

/** The addon's exports; each engine narrows the part it uses to its own types. */
export function loadNative(): unknown {
  if (cached === undefined) {
    if (!existsSync(addonPath)) {
      throw new Error(`faultc: native addon not built (${addonPath}); run: npx node-gyp rebuild -C native`);
    }
    cached = createRequire(import.meta.url)(addonPath);
  }
  return cached;
}
