// Every patch of the series builds on its own: kernel/build.sh --bisect
// (tinyconfig + the fragment, each patch built after the ones before it, in
// the release tree). A run is recorded in kernel/bisect.txt, headed by the
// series hash (every patch but the cover letter, the fragment and build.sh):
// while the record's hash is the series', the test checks the record and
// builds nothing. A series with no record of its own is bisected here only
// with FAULTC_KERNEL_BISECT=1 (about 15 minutes on two idle cores after the
// release build); otherwise the test is skipped and says so, naming the hash
// to bisect and record.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../setup/kernel.js';

const isRoot = process.getuid?.() === 0;
const build = join(repoRoot, 'kernel', 'build.sh');
const recorded = join(repoRoot, 'kernel', 'bisect.txt');
const patches = readdirSync(join(repoRoot, 'kernel', 'patches')).filter((f) => f.endsWith('.patch') && !f.startsWith('0000-')).sort();
const hash = isRoot ? execFileSync(build, ['--print-hash'], { cwd: repoRoot, encoding: 'utf8' }).trim() : '';
const record = existsSync(recorded) ? readFileSync(recorded, 'utf8') : '';
const hasRecord = hash !== '' && record.startsWith(`series ${hash} `);
const runHere = process.env.FAULTC_KERNEL_BISECT === '1';

if (!isRoot) console.warn('kernel-bisect: skipped: needs root (the kernel build)');
else if (!hasRecord && !runHere) {
  console.warn(
    `kernel-bisect: skipped: the series ${hash} has no bisect record (kernel/bisect.txt is for ${record.split(' ')[1] ?? 'none'}); ` +
      'run kernel/build.sh --bisect (or this test with FAULTC_KERNEL_BISECT=1) and commit its result as kernel/bisect.txt',
  );
}

describe.skipIf(!isRoot || (!hasRecord && !runHere))('kernel series bisectability', () => {
  it('every patch builds with only the ones before it', () => {
    let text = record;
    if (hasRecord) {
      console.log(`kernel-bisect: the series ${hash} was bisected already (kernel/bisect.txt); not run again`);
    } else {
      const t = Date.now();
      const file = execFileSync(build, ['--bisect'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 3_600_000 }).trim().split('\n').pop() ?? '';
      text = readFileSync(file, 'utf8');
      console.log(`kernel-bisect: ${((Date.now() - t) / 1000).toFixed(0)} s\n${text}`);
    }
    const lines = text.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^series ${hash} \\(${patches.length} patches`));
    expect(lines.slice(1).map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(patches.map((p) => `ok ${p}`));
  }, 3_700_000);
});
