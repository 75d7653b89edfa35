// The patch series follows kernel style: `git format-patch --cover-letter`
// output numbered as one series, subjects in subsystem style, and
// scripts/checkpatch.pl of the same Linux source the series applies to
// passes every patch without a remark. The source comes from
// kernel/fetch-source.sh (cached with the kernel build).
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../setup/kernel.js';

const patchDir = join(repoRoot, 'kernel', 'patches');
const cover = '0000-cover-letter.patch';
const patches = readdirSync(patchDir).filter((f) => f.endsWith('.patch') && f !== cover).sort();
const subject = (file: string): string => /^Subject: (.*(?:\n .*)*)$/m.exec(readFileSync(join(patchDir, file), 'utf8'))?.[1]?.replace(/\n /g, ' ') ?? '';

function kernelSource(): string {
  return execFileSync(join(repoRoot, 'kernel', 'fetch-source.sh'), [], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    .trim()
    .split('\n')
    .pop() ?? '';
}

describe('kernel patches', () => {
  it('are a series', () => {
    expect(patches.length).toBeGreaterThanOrEqual(3);
    for (const [i, p] of patches.entries()) expect(p.startsWith(String(i + 1).padStart(4, '0') + '-')).toBe(true);
  });

  it('are numbered as one series under a cover letter, subjects in subsystem style', () => {
    const n = String(patches.length).padStart(2, '0');
    expect(subject(cover)).toMatch(new RegExp(`^\\[PATCH 00/${n}\\] \\S`));
    const text = readFileSync(join(patchDir, cover), 'utf8');
    expect(text).not.toMatch(/\*\*\* (SUBJECT|BLURB) HERE \*\*\*/);
    for (const [i, p] of patches.entries()) {
      // "[PATCH 03/12] mm: ...", "[PATCH 11/12] selftests/bpf: ...", "bpf, docs: ..."
      expect(subject(p), p).toMatch(new RegExp(`^\\[PATCH ${String(i + 1).padStart(2, '0')}/${n}\\] [a-z][\\w/. -]*(, [a-z]+)?: \\S`));
      // the cover letter's shortlog lists it
      expect(text, p).toContain(subject(p).replace(/^\[PATCH \d+\/\d+\] /, '').slice(0, 40));
    }
  });

  it.each(patches)('%s passes checkpatch.pl', (patch) => {
    const src = kernelSource();
    const r = spawnSync('perl', [join(src, 'scripts', 'checkpatch.pl'), '--quiet', join(patchDir, patch)], { cwd: src, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
