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
  const failed = process.env.FAULTC_KERNEL_BUILD_ERROR;
  if (failed !== undefined && failed !== '') throw new Error(`the kernel build failed earlier in this run: ${failed}`);
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
/** vitest options whose value is the next argument (not a file filter). */
const OPTIONS_WITH_VALUES = new Set(['--exclude', '--config', '-c', '--root', '-r', '--dir', '--project', '--reporter', '--outputFile', '-t', '--testNamePattern', '--pool', '--shard']);

export function runIncludesVmTests(argv: readonly string[]): boolean {
  const runAt = argv.findIndex((a) => a === 'run' || a.endsWith('vitest.mjs') || a.endsWith('vitest'));
  const filters: string[] = [];
  let vmExcluded = false;
  for (let i = runAt + 1; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (OPTIONS_WITH_VALUES.has(a)) {
      if (a === '--exclude' && (argv[i + 1] ?? '').includes('vm')) vmExcluded = true;
      i++;
    } else if (a.startsWith('--exclude=')) {
      if (a.includes('vm')) vmExcluded = true;
    } else if (!a.startsWith('-') && a !== 'run') {
      filters.push(a);
    }
  }
  if (filters.length === 0) return !vmExcluded;
  return filters.some((f) => f.includes('vm'));
}

export default function setup(): void {
  if (!runIncludesVmTests(process.argv)) return;
  // Inherited by the forked test workers.  A failed build fails the VM tests,
  // not the whole run, and is not retried by every VM test file.
  try {
    process.env.FAULTC_KERNEL = ensureKernel();
  } catch (e) {
    const message = e instanceof Error ? e.message.split('\n')[0] ?? e.message : String(e);
    console.error(`kernel build failed; the VM tests will fail: ${message}`);
    process.env.FAULTC_KERNEL_BUILD_ERROR = message;
  }
}
