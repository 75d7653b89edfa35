// Every patch of the series builds on its own: kernel/build.sh --bisect
// (tinyconfig + the fragment, each patch built after the ones before it, in
// the release tree). Each step is keyed by the source, the fragment and the
// patches up to it; kernel/bisect.txt records the steps that built. While the
// record covers every step of the series, the test checks it and builds
// nothing; otherwise it bisects the steps the record lacks (a changed patch
// rebuilds only the steps from it to the end) and says to commit the result.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../setup/kernel.js';

const isRoot = process.getuid?.() === 0;
const build = join(repoRoot, 'kernel', 'build.sh');
const recorded = join(repoRoot, 'kernel', 'bisect.txt');

if (!isRoot) console.warn('kernel-bisect: skipped: needs root (the kernel build)');

/** `<patch> <step key>` for every patch of the series, in order. */
function steps(): string[] {
  return execFileSync(build, ['--step-keys'], { cwd: repoRoot, encoding: 'utf8' }).trim().split('\n');
}

/** The `ok <patch> <step key>` lines of a record, in order. */
function okSteps(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('ok '))
    .map((l) => l.split(' ').slice(1, 3).join(' '));
}

describe.skipIf(!isRoot)('kernel series bisectability', () => {
  it('every patch builds with only the ones before it', () => {
    const want = steps();
    expect(want.length).toBeGreaterThan(1);
    const record = existsSync(recorded) ? readFileSync(recorded, 'utf8') : '';
    const missing = want.filter((s) => !okSteps(record).includes(s));
    let text = record;
    if (missing.length === 0) {
      console.log(`kernel-bisect: all ${want.length} steps are in kernel/bisect.txt; nothing built`);
    } else {
      console.log(`kernel-bisect: ${missing.length} of ${want.length} steps not in kernel/bisect.txt (first: ${missing[0]}); building them`);
      const t = Date.now();
      const file = execFileSync(build, ['--bisect'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 3_600_000 }).trim().split('\n').pop() ?? '';
      text = readFileSync(file, 'utf8');
      console.log(`kernel-bisect: ${((Date.now() - t) / 1000).toFixed(0)} s; commit ${file} as kernel/bisect.txt\n${text}`);
    }
    expect(okSteps(text)).toEqual(want);
  }, 3_700_000);
});
