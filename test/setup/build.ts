// Builds what the tests run (dist/ and the native addon) once per test run,
// so `npm test` always tests the sources as they are.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'build') newest = Math.max(newest, newestMtime(p));
    } else {
      newest = Math.max(newest, statSync(p).mtimeMs);
    }
  }
  return newest;
}

export default function setup(): void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
  const addon = join(root, 'native', 'build', 'Release', 'faultc_native.node');
  if (!existsSync(addon) || statSync(addon).mtimeMs < newestMtime(join(root, 'native'))) {
    execFileSync('npx', ['node-gyp', 'rebuild', '-C', 'native', '--silent'], { cwd: root, stdio: 'inherit' });
  }
}
