// The patch series follows kernel style: scripts/checkpatch.pl of the same
// Linux source the series applies to passes every patch without a remark.
// The source comes from kernel/fetch-source.sh (cached with the kernel build).
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './setup/kernel.js';

const patchDir = join(repoRoot, 'kernel', 'patches');
const patches = readdirSync(patchDir).filter((f) => f.endsWith('.patch')).sort();

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

  it.each(patches)('%s passes checkpatch.pl', (patch) => {
    const src = kernelSource();
    const r = spawnSync('perl', [join(src, 'scripts', 'checkpatch.pl'), '--quiet', join(patchDir, patch)], { cwd: src, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
