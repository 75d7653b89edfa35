// `faultc run` as a user runs it (through dist/, real userfaultfd): the
// README's demo, JSON output, SIGBUS pages checked in a child, exit codes.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { onTmpfs } from '../../runtime/proc/tmpfs.js';
import { repoRoot, skipReason } from '../helpers/uffd.js';

const skip = skipReason('runtime-run');
const cli = join(repoRoot, 'dist', 'runtime', 'cli.js');

function faultc(...args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
}

beforeAll(() => {
  execFileSync('node', [join(repoRoot, 'scripts', 'make-example-data.mjs')]);
});

describe.skipIf(skip)('faultc run', () => {
  test('the README demo: snapshot-restore, sequential touch, verified', () => {
    const r = faultc('run', 'examples/snapshot-restore.pfp', '--region', 'heap', '--touch', 'seq', '--verify');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/touched 16384 pages \(seq, read, 1 thread\)/);
    expect(r.stdout).toMatch(/verified 16384 pages byte for byte .*: ok/);
    expect(r.stdout).toMatch(/faults 1024 .*copy 1024 .*prefetch 15360/);
    expect(r.stdout).toMatch(/events 1024 \(copy 1024\)/);
  });

  test('--json: the report as JSON, random order from 2 threads, write touches with dirty tracking', () => {
    const r = faultc('run', 'examples/tiered.pfp', '--region', 'heap', '--touch', 'random', '--threads', '2', '--write', '--verify', '--json');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as { touch: { pages: number; write: boolean }; verify: { mismatches: unknown[] }; stats: { resolved: { copy: number; zero: number }; writeFaults: number }; dirtyPages: number };
    expect(j.touch).toMatchObject({ pages: 2048, write: true });
    expect(j.verify.mismatches).toEqual([]);
    expect(j.stats.resolved).toMatchObject({ copy: 256, zero: 1792 });
    expect(j.stats.writeFaults).toBe(2048);
    expect(j.dirtyPages).toBe(2048);
  });

  test('a guard region: not touched here, SIGBUS checked in a child process', () => {
    const r = faultc('run', 'examples/debug-guard.pfp', '--region', 'guard', '--verify');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/not touched: 1 page whose first touch raises SIGBUS/);
    expect(r.stdout).toMatch(/checked in a child process: touching page 0 raised SIGBUS/);
  });

  test('a source on tmpfs: the region is mapped from it (zero-copy), or copied with --no-zero-copy, verified either way', () => {
    if (!onTmpfs('/dev/shm')) {
      console.warn('runtime-run: zero-copy case skipped: /dev/shm is not tmpfs');
      return;
    }
    const dir = mkdtempSync('/dev/shm/faultc-run-');
    try {
      const image = join(dir, 'heap.img');
      copyFileSync(join(repoRoot, 'examples', 'heap.img'), image);
      const args = ['run', 'examples/snapshot-restore.pfp', '--region', 'heap', '--source', `image=${image}`, '--verify', '--json'];
      const mapped = faultc(...args);
      expect(mapped.status).toBe(0);
      const m = JSON.parse(mapped.stdout) as { mappedFrom: string | null; verify: { pages: number; mismatches: unknown[] }; stats: { resolved: { copy: number; prefetch: number } } };
      expect(m.mappedFrom).toBe(image);
      expect(m.verify).toEqual({ pages: 16384, mismatches: [] });
      expect(m.stats.resolved).toMatchObject({ copy: 1024, prefetch: 15360 });
      const copied = faultc(...args, '--no-zero-copy');
      expect(copied.status).toBe(0);
      const c = JSON.parse(copied.stdout) as typeof m;
      expect(c.mappedFrom).toBeNull();
      expect(c.verify).toEqual(m.verify);
      const text = faultc(...args.filter((a) => a !== '--json'));
      expect(text.stdout).toContain(`zero-copy: the region's pages inside ${image} are its page-cache pages`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('usage errors: unknown region or source exit 2 with the names that exist', () => {
    const a = faultc('run', 'examples/tiered.pfp', '--region', 'nope');
    expect(a.status).toBe(2);
    expect(a.stderr).toMatch(/no region "nope" \(it has: heap\)/);
    const b = faultc('run', 'examples/tiered.pfp', '--region', 'heap', '--source', 'disk=/dev/null');
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/no source "disk" \(it has: image\)/);
  });
});
