// The guest kernel for the VM tests: built (or taken from the cache) once per
// test run.  kernel/build.sh holds a lock, so test files that ask at the same
// time wait for one build instead of starting several.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const repoRoot = join(import.meta.dirname, '..', '..');

let cached: string | undefined;

/** Path of the bzImage to boot: FAULTC_KERNEL if set, else kernel/build.sh's image. */
export function ensureKernel(): string {
  if (cached !== undefined) return cached;
  const given = process.env.FAULTC_KERNEL;
  if (given !== undefined && given !== '') {
    if (!existsSync(given)) throw new Error(`FAULTC_KERNEL=${given} does not exist`);
    cached = given;
    return given;
  }
  const out = execFileSync(join(repoRoot, 'kernel', 'build.sh'), [], {
    cwd: repoRoot,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 << 20,
  });
  const path = out.trim().split('\n').pop() ?? '';
  if (!existsSync(path)) throw new Error(`kernel/build.sh printed no image path (got "${path}")`);
  cached = path;
  return path;
}

// Test-file filters on the command line (`vitest run test/grammar`): build the
// kernel up front only if the run includes VM tests.  The VM test files call
// ensureKernel() themselves too, so this only moves the wait out of a test.
function runIncludesVmTests(): boolean {
  const runAt = process.argv.findIndex((a) => a === 'run' || a.endsWith('vitest.mjs') || a.endsWith('vitest'));
  const filters = process.argv.slice(runAt + 1).filter((a) => !a.startsWith('-') && a !== 'run');
  return filters.length === 0 || filters.some((f) => f.includes('vm'));
}

export default function setup(): void {
  if (!runIncludesVmTests()) return;
  const image = ensureKernel();
  // Inherited by the forked test workers.
  process.env.FAULTC_KERNEL = image;
}
