// The uffd engine's own C test (test/fixtures/uffd_engine_test.c) against a
// hand-written decision library: built with cc and run on real userfaultfd.
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { repoRoot, skipReason, tempDir } from '../helpers/uffd.js';

const skip = skipReason('uffd-native');
const uffdSources = (): string[] => {
  const src = join(repoRoot, 'native', 'src', 'uffd');
  return readdirSync(src).filter((f) => f.endsWith('.c')).map((f) => join(src, f));
};
const dir = tempDir('faultc-uffd-c-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(skip)('uffd engine in C', () => {
  test('fixture decision library: copy+prefetch, fill, SIGBUS (poison, tgkill, on write from user space and from a system call, truncated source), dirty, around, defer, no leaks', () => {
    const inc = join(repoRoot, 'native', 'include');
    const so = join(dir, 'decide_fixture.so');
    const bin = join(dir, 'uffd_engine_test');
    execFileSync('cc', ['-O2', '-g', '-shared', '-fPIC', `-I${inc}`, join(repoRoot, 'test', 'fixtures', 'decide_fixture.c'), '-o', so]);
    execFileSync('cc', [
      '-O2', '-g', '-Wall', '-Werror', `-I${inc}`,
      join(repoRoot, 'test', 'fixtures', 'uffd_engine_test.c'),
      ...uffdSources(),
      join(repoRoot, 'native', 'src', 'cpu_latency.c'),
      join(repoRoot, 'native', 'src', 'uffd_touch.c'),
      '-o', bin, '-lpthread', '-ldl', '-lcurl',
    ]);
    const r = spawnSync(bin, [so, dir], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) console.error(r.stdout, r.stderr);
    expect(r.status).toBe(0);
    expect(r.stdout.match(/^ok /gm)).toHaveLength(8);
  });
});
