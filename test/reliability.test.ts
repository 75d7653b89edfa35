// Regressions of the runtime's edges, each through the public API or the CLI
// in a child process (an abort must not take the test runner with it):
// teardown with events queued, regions over 4 GiB, policies dropped without
// close(), listeners that throw.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { repoRoot, skipReason, tempDir } from './helpers/uffd.js';

const skip = skipReason('reliability');
let dir = '';
beforeAll(() => {
  dir = tempDir('faultc-reliability-');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Child {
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  out: Record<string, unknown> | null;
}

function child(scenario: string, args: Record<string, unknown> = {}, nodeArgs: string[] = []): Child {
  const script = join(repoRoot, 'test', 'fixtures', 'reliability-child.mjs');
  const r = spawnSync(process.execPath, [...nodeArgs, script, scenario, JSON.stringify({ cacheDir: join(dir, 'cache'), ...args })], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  const line = r.stdout.trim().split('\n').pop();
  return { status: r.status, signal: r.signal, stderr: r.stderr, out: line ? (JSON.parse(line) as Record<string, unknown>) : null };
}

const cli = (args: string[]) =>
  spawnSync(process.execPath, [join(repoRoot, 'dist', 'runtime', 'cli.js'), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, XDG_CACHE_HOME: join(dir, 'xdg') },
  });

describe.skipIf(skip)('reliability: aborts and leaks', () => {
  test('a notify region read from JavaScript, close(), exit: exits 0 (3 runs)', () => {
    for (let i = 0; i < 3; i++) {
      const r = child('close-after-js-read');
      expect(r.stderr).not.toContain('FATAL ERROR');
      expect(r).toMatchObject({ status: 0, signal: null });
      expect(r.out).toEqual({ byte: expect.any(Number) });
    }
  });

  test('policies left open at exit, one page read each: exits 0 (3 runs of 4 policies)', () => {
    for (let i = 0; i < 3; i++) {
      const r = child('left-open', { policies: 4 });
      expect(r.stderr).toBe('');
      expect(r).toMatchObject({ status: 0, signal: null, out: { open: 4 } });
    }
  });

  test('20 policies dropped without close() are collected and closed: fds and threads as before', () => {
    const r = child('dropped', { policies: 20 }, ['--expose-gc']);
    expect(r).toMatchObject({ status: 0, signal: null });
    const { before, loaded, after } = r.out as Record<'before' | 'loaded' | 'after', { fds: number; threads: number }>;
    // Each open policy holds a userfaultfd, source and pipe fds and handler threads...
    expect(loaded.fds).toBeGreaterThan(before.fds);
    // ...and gives them all back once collected.
    expect(after).toEqual(before);
  });

  test('a region over 4 GiB maps, touches and gives windows; its whole buffer is a clear error', () => {
    const pfp = join(dir, 'big.pfp');
    writeFileSync(pfp, 'policy big {\n  region r size 8 GiB { on missing { zero } }\n}\n');
    const r = child('big-region', { policy: pfp });
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ status: 0, signal: null });
    expect(r.out).toEqual({
      size: 8 * 2 ** 30,
      sum: 0,
      bufferError: { code: 'FAULTC_REGION_TOO_LARGE', message: expect.stringContaining('use region.view(offset, length)') },
      tail: 7,
      faults: 3,
      zero: 3,
    });
  });

  test.each(['4 GiB + 1 page', '1 TiB'])('faultc run of a region of %s touches 16 pages', (size) => {
    const pfp = join(dir, `size-${size.replace(/\W+/g, '')}.pfp`);
    writeFileSync(pfp, `policy big {\n  region r size ${size === '1 TiB' ? '1 TiB' : '1048577 pages'} { on missing { zero } }\n}\n`);
    const r = cli(['run', pfp, '--region', 'r', '--touch', '16', '--engine', 'uffd', '--verify']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/touched 16 pages/);
    expect(r.stdout).toMatch(/faults 16 +zero 16/);
    expect(r.stdout).toMatch(/verified 16 pages/);
  });
});

describe.skipIf(skip)('reliability: lost events', () => {
  test("throwing 'fault' listeners: every listener gets every event, every throw is uncaught", () => {
    const r = child('throwing-listener', { faults: 200 });
    expect(r.stderr).not.toContain('DEP0168');
    expect(r).toMatchObject({ status: 0, signal: null });
    expect(r.out).toEqual({
      got: { regionThrower: 200, region: 200, policy: 200, policyThrower: 200 },
      uncaught: 400,
      messages: ['policy listener', 'region listener'],
      lost: 0,
    });
  });
});
