// `faultc trace` held against perf on the same run: perf stat counts the
// page_fault_user tracepoint of a command while faultc traces perf itself, so
// both see the very same faults; faultc's events of the command (by process
// name) must be exactly perf's count. Also: the command's exit status, no
// launcher faults, user/kernel mode, and --output.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'runtime', 'cli.js');
const isRoot = process.getuid?.() === 0;
const hasPerf = spawnSync('perf', ['--version']).status === 0;
if (!isRoot) console.warn('trace-perf: skipped: needs root (BPF)');
else if (!hasPerf) console.warn('trace-perf: perf comparison skipped: perf not installed (Debian linux-perf; scripts/setup.sh installs it)');
const work = mkdtempSync(join(tmpdir(), 'faultc-trace-perf-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Ev {
  pid: number;
  comm: string;
  access: string;
  mode: string;
  handler: string;
}

function trace(args: string[], command: string[]) {
  const r = spawnSync('node', [cli, 'trace', ...args, '--', ...command], { encoding: 'utf8', cwd: work, timeout: 120_000 });
  return r;
}

function events(file: string): Ev[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Ev);
}

describe.skipIf(!isRoot || !hasPerf)('faultc trace and perf stat -e exceptions:page_fault_user on the same run', () => {
  const workloads: [string, string[]][] = [
    ['ls', ['ls', '-lR', '/usr/include/linux']],
    ['dd', ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=4M', 'count=8']],
    ['sqlite3', ['sqlite3', ':memory:', 'create table t(x); insert into t select value from generate_series(1, 20000); select count(*) from t;']],
  ];
  for (const [comm, cmd] of workloads) {
    test(`${comm}: equal counts with --write-faults --no-kernel-faults`, () => {
      const out = join(work, `${comm}.json`);
      const perfOut = join(work, `${comm}.perf`);
      const r = trace(['--json', '-o', out, '--write-faults', '--no-kernel-faults', '-q'], ['perf', 'stat', '-x,', '-o', perfOut, '-e', 'exceptions:page_fault_user', '--', ...cmd]);
      expect(r.status).toBe(0);
      const perfLine = readFileSync(perfOut, 'utf8').split('\n').find((l) => l.includes('exceptions:page_fault_user'))!;
      const perfCount = Number(perfLine.split(',')[0]);
      const ours = events(out).filter((e) => e.comm === comm);
      expect(perfCount).toBeGreaterThan(50);
      expect(ours.length).toBe(perfCount);
      expect(ours.every((e) => e.mode === 'user')).toBe(true);
    });
  }
});

describe.skipIf(!isRoot)('faultc trace -- command', () => {
  test("exits with the command's status: 7, 127 when it cannot start, 128+N for signal N", () => {
    expect(trace(['-q'], ['sh', '-c', 'exit 7']).status).toBe(7);
    const missing = trace(['-q'], ['/nonexistent/faultc-no-such-command']);
    expect(missing.status).toBe(127);
    expect(missing.stderr).toMatch(/faultc-no-such-command: not found/);
    expect(trace(['-q'], ['sh', '-c', 'kill -SEGV $$']).status).toBe(128 + 11);
    const ok = trace([], ['true']);
    expect(ok.status).toBe(0);
    expect(ok.stderr).toMatch(/^ {2}command exited with status 0$/m);
  });

  test('traces from the exec on: no launcher fault, every event named', () => {
    const out = join(work, 'true.json');
    const r = trace(['--json', '-o', out, '-q'], ['/bin/true']);
    expect(r.status).toBe(0);
    const evs = events(out);
    expect(evs.length).toBeGreaterThan(10);
    expect(new Set(evs.map((e) => e.comm))).toEqual(new Set(['true']));
  });

  test('user and kernel mode: read(2) into fresh pages faults in the kernel', () => {
    const out = join(work, 'dd.json');
    const r = trace(['--json', '-o', out, '-q'], ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1M', 'count=1']);
    expect(r.status).toBe(0);
    const dd = events(out).filter((e) => e.comm === 'dd');
    // The 1 MiB buffer: 256 pages written by the kernel for read(2).
    expect(dd.filter((e) => e.mode === 'kernel' && e.access === 'write').length).toBeGreaterThanOrEqual(250);
    expect(dd.filter((e) => e.mode === 'user').length).toBeGreaterThan(10);
    const none = join(work, 'dd-user.json');
    trace(['--json', '-o', none, '-q', '--no-kernel-faults'], ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1M', 'count=1']);
    expect(events(none).filter((e) => e.mode === 'kernel')).toEqual([]);
  });

  test('--output keeps stdout for the command', () => {
    const out = join(work, 'echo.json');
    const r = trace(['--json', '--output', out, '-q'], ['sh', '-c', 'echo from-the-command']);
    expect(r.stdout).toBe('from-the-command\n');
    expect(events(out).length).toBeGreaterThan(10);
    const bad = trace(['--json', '--output', join(work, 'no', 'such', 'dir', 'x.json')], ['true']);
    expect(bad.status).toBe(4);
    expect(bad.stderr).toBe(`faultc trace: cannot write ${join(work, 'no', 'such', 'dir', 'x.json')}: no such file or folder\n`);
  });

  test('--duration with a command is a usage error, not ignored', () => {
    const r = trace(['--duration', '1'], ['true']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('faultc trace: --duration is for --pid: a command is traced until it exits (interrupt with Ctrl-C to stop early)\n');
  });
});
