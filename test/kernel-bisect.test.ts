// Every patch of the series builds on its own: kernel/build.sh --bisect
// (tinyconfig + the fragment, each patch built after the ones before it, in
// the release tree). It runs only when the series changed: the result is
// cached by the series hash in .cache/kernel/bisect/<hash>.txt, and a run
// recorded in kernel/bisect.txt for the same hash stands for it on a clean
// clone (the hash covers every patch but the cover letter, the fragment and
// build.sh; any change runs the bisect again).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './setup/kernel.js';

const isRoot = process.getuid?.() === 0;
const build = join(repoRoot, 'kernel', 'build.sh');
const patches = readdirSync(join(repoRoot, 'kernel', 'patches')).filter((f) => f.endsWith('.patch') && !f.startsWith('0000-')).sort();

describe.skipIf(!isRoot)('kernel series bisectability', () => {
  it('every patch builds with only the ones before it', () => {
    const hash = execFileSync(build, ['--print-hash'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    const recorded = join(repoRoot, 'kernel', 'bisect.txt');
    let text: string;
    if (existsSync(recorded) && readFileSync(recorded, 'utf8').startsWith(`series ${hash} `)) {
      text = readFileSync(recorded, 'utf8');
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
