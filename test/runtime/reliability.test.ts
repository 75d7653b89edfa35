// Regressions of the runtime's edges, each through the public API or the CLI
// in a child process (an abort or a hang must not take the test runner with
// it): teardown with events queued, regions over 4 GiB, policies dropped
// without close(), special files, listeners that throw, signals to trace,
// refusals in the right words, smaller edges.
import { constants } from 'node:os';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hasBpfPrivilege } from '../../runtime/bpf/privilege.js';
import { examplesDir, repoRoot, skipReason, tempDir } from '../helpers/uffd.js';

const skip = skipReason('reliability');
const tracing = !skip && hasBpfPrivilege();
if (!skip && !tracing) console.warn('reliability: trace tests skipped: loading BPF programs needs CAP_BPF and CAP_PERFMON');
let dir = '';
let fifo = '';
beforeAll(() => {
  dir = tempDir('faultc-reliability-');
  fifo = join(dir, 'fifo');
  spawnSync('mkfifo', [fifo]);
  mkdirSync(join(dir, 'adir'));
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

const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [join(repoRoot, 'dist', 'runtime', 'cli.js'), ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, XDG_CACHE_HOME: join(dir, 'xdg'), ...env },
  });
const example = (name: string) => join(examplesDir, name);

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

describe.skipIf(skip)('reliability: defer handlers', () => {
  const deferred = () => {
    const pfp = join(dir, 'deferred.pfp');
    writeFileSync(pfp, 'policy deferred {\n  region r size 64 pages {\n    on missing { if page < 32 { defer notify } else { fill 0x5A } }\n  }\n}\n');
    return pfp;
  };

  test('20 policies with an onDefer handler that holds the policy, dropped without close(): fds and threads as before', () => {
    const r = child('defer-dropped', { policy: deferred(), policies: 20 }, ['--expose-gc']);
    expect(r).toMatchObject({ status: 0, signal: null });
    const { before, loaded, after, sums } = r.out as Record<'before' | 'loaded' | 'after', { fds: number; threads: number }> & { sums: number[] };
    expect(sums).toEqual([7]); // every deferred page had the handler's byte
    expect(loaded.fds).toBeGreaterThan(before.fds);
    expect(after).toEqual(before);
  });

  test.each([
    ['close', 'the policy closes under it', 'deferFailed'],
    ['deadline', 'its deadline passes', 'deferTimeout'],
  ])('a deferred fault whose handler never answers, %s (%s): SIGBUS (EFAULT in write(2)) and one %s error event, exit 0', (end, _what, error) => {
    const r = child('defer-pending', { policy: deferred(), sink: join(dir, `sink-${end}`), end, deadlineMs: 500 });
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ status: 0, signal: null });
    expect(r.out).toEqual({ code: 'EFAULT', errors: [error] });
  });

  test('process.exit() with a deferred fault pending: exits 0, no abort (3 runs)', () => {
    for (let i = 0; i < 3; i++) {
      // libuv joins its thread pool at exit: the write(2) ends when the fault does, at the deadline.
      const r = child('defer-pending', { policy: deferred(), sink: join(dir, 'sink-exit'), end: 'exit', deadlineMs: 300 });
      expect(r.stderr).toBe('');
      expect(r).toMatchObject({ status: 0, signal: null, out: { pending: true } });
    }
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

describe.skipIf(skip)('reliability: special files', () => {
  test.each([
    ['check', 'a FIFO', () => [fifo]],
    ['compile', 'a FIFO', () => [fifo, '-o', join(dir, 'out')]],
    ['run', 'a FIFO', () => [fifo, '--region', 'r']],
    ['check', 'a character device', () => ['/dev/zero']],
    ['run', 'a character device', () => ['/dev/urandom', '--region', 'r']],
    ['check', 'a directory', () => [join(dir, 'adir')]],
  ])('faultc %s of %s as the policy file: refused at once (exit 4)', (cmd, kind, args) => {
    const r = cli([cmd, ...args()]);
    expect(r.signal).toBeNull(); // not killed by the timeout
    expect(r.status).toBe(4);
    expect(r.stderr).toContain(`not a regular file (${kind})`);
  });

  test.each([
    ['a FIFO', () => fifo],
    ['a directory', () => join(dir, 'adir')],
    ['a character device', () => '/dev/zero'],
  ])('faultc run --source of %s: refused at once (exit 4)', (kind, path) => {
    const r = cli(['run', example('snapshot-restore.pfp'), '--region', 'heap', '--engine', 'uffd', '--touch', '4', '--source', `image=${path()}`]);
    expect(r.signal).toBeNull();
    expect(r.status).toBe(4);
    expect(r.stderr).toBe(`faultc run: source image: ${path()} is not a regular file (${kind})\n`);
  });

  test('loadPolicy() with a FIFO as source: FAULTC_SOURCE_NOT_FILE', () => {
    const r = child('load', { policy: example('snapshot-restore.pfp'), region: 'heap', options: { cacheDir: join(dir, 'cache'), sources: { image: fifo } } });
    expect(r.signal).toBeNull();
    expect(r.out).toMatchObject({ ok: false, code: 'FAULTC_SOURCE_NOT_FILE', message: `source image: ${fifo} is not a regular file (a FIFO)` });
  });

  test.each(['fifo', 'adir'])('the engine itself refuses a source that is not a regular file (%s)', (name) => {
    const r = child('native-source', { source: join(dir, name) });
    expect(r.signal).toBeNull();
    expect(r.out).toEqual({ ok: false, code: 'FAULTC_UFFD_EINVAL', message: `source ${join(dir, name)} is not a regular file` });
  });
});

describe.skipIf(skip)('reliability: refusals and smaller edges', () => {
  test('a cache folder that cannot be made (under /proc): loadPolicy() compiles into a private temporary one and says where', () => {
    const tmp = join(dir, 'tmp');
    mkdirSync(tmp, { recursive: true });
    const r = spawnSync(process.execPath, [join(repoRoot, 'test', 'fixtures', 'reliability-child.mjs'), 'load', JSON.stringify({ policy: example('debug-guard.pfp'), region: 'arena' })], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, XDG_CACHE_HOME: '/proc/faultc-none', TMPDIR: tmp },
    });
    expect(r.signal).toBeNull();
    const out = JSON.parse(r.stdout) as { ok: boolean; sum: number; warnings: { code: string; message: string }[] };
    const fallback = join(tmp, `faultc-${process.getuid?.()}`, 'policies');
    expect(out).toEqual({
      ok: true,
      sum: 0xa5,
      warnings: [{ code: 'FAULTC_CACHE_FALLBACK', message: `cannot use the cache folder /proc/faultc-none/faultc/policies (ENOENT): using ${fallback}` }],
    });
  });

  test('no writable cache folder at all: exit 4 naming both places', () => {
    const r = cli(['run', example('debug-guard.pfp'), '--region', 'arena', '--engine', 'uffd', '--touch', '1'], { XDG_CACHE_HOME: '/proc/faultc-none', TMPDIR: '/proc/faultc-none-tmp' });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(4);
    expect(r.stderr).toBe('faultc run: cannot use the cache folder /proc/faultc-none/faultc/policies (ENOENT), nor one under /proc/faultc-none-tmp (ENOENT): set XDG_CACHE_HOME or TMPDIR to a writable folder\n');
  });

  test('a region at 0 is refused, never mapped elsewhere', () => {
    const pfp = join(dir, 'at0.pfp');
    writeFileSync(pfp, 'policy z {\n  region r size 1 page at 0 { on missing { zero } }\n}\n');
    const r = cli(['run', pfp, '--region', 'r', '--engine', 'uffd']);
    expect(r.status).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('faultc run: region r is placed at address 0, which cannot be mapped');
  });

  test('run --threads 100000 is a usage error (exit 2)', () => {
    const r = cli(['run', example('debug-guard.pfp'), '--region', 'arena', '--engine', 'uffd', '--threads', '100000']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("option '--threads <n>' argument '100000' is invalid. expected 1 to 64");
  });
});

describe.skipIf(!tracing)('reliability: faultc trace', () => {
  test.each(['SIGTERM', 'SIGINT'] as const)('%s to faultc alone ends the trace and its command', async (signal) => {
    const p = spawn(process.execPath, [join(repoRoot, 'dist', 'runtime', 'cli.js'), 'trace', '--', 'sleep', '60'], {
      env: { ...process.env, XDG_CACHE_HOME: join(dir, 'xdg') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const ended = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
    // The command starts once tracing is in place: wait for the sleep to exist.
    for (let i = 0; i < 100; i++) {
      if (spawnSync('pgrep', ['-P', String(p.pid), '-x', 'sleep']).status === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    p.kill(signal);
    const killer = setTimeout(() => p.kill('SIGKILL'), 15_000);
    const code = await ended;
    clearTimeout(killer);
    // The command's status, as a shell gives it: 128 + the signal that ended it.
    expect(code).toBe(128 + constants.signals[signal]);
    expect(stderr).toContain(`command exited with signal ${signal}`);
  });

  test('trace --pid 0 is a usage error (exit 2)', () => {
    const r = cli(['trace', '--pid', '0']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('faultc trace: --pid needs a process id (a positive integer), got 0\n');
  });

  const nobodyReads = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'test', '-r', join(repoRoot, 'dist', 'runtime', 'cli.js')]).status === 0;
  if (!nobodyReads) console.warn('reliability: unprivileged trace test skipped: user nobody cannot read this checkout');
  test.skipIf(!nobodyReads)("CAP_BPF + CAP_PERFMON but no right to ptrace a root process: says so (exit 3), not 'no process'", () => {
    const r = spawnSync('setpriv', [
      '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=+bpf,+perfmon', '--ambient-caps=+bpf,+perfmon',
      process.execPath, join(repoRoot, 'dist', 'runtime', 'cli.js'), 'trace', '--pid', '1', '--duration', '1',
    ], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, XDG_CACHE_HOME: '/nonexistent/faultc-cache' } });
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('faultc trace: process 1 belongs to another user: tracing it needs the right to ptrace it (root, or CAP_SYS_PTRACE)');
  });
});
