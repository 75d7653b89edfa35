// `faultc run` on a large region tells how far it has come, on a terminal
// only: under a pseudo-terminal (script(1)) the line is redrawn in place and
// cleared before the report; through a pipe, and with --json, not a byte of it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { userfaultfdAccess } from '../../runtime/proc/uffd-access.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'runtime', 'cli.js');
const work = mkdtempSync(join(tmpdir(), 'faultc-progress-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const refused = userfaultfdAccess().message;
const hasScript = spawnSync('script', ['--version']).status === 0;
const why = refused ? `userfaultfd is refused here: ${refused}` : !hasScript ? 'script(1) (util-linux) is not installed' : '';
if (why) console.warn(`run-progress: skipped: ${why}`);

// 256 MiB: long enough (well over the 300 ms before progress shows) on any machine.
const policy = join(work, 'mid.pfp');
writeFileSync(policy, 'policy mid {\n  region r size 256 MiB {\n    on missing { fill 0x11 }\n  }\n}\n');
const args = ['run', policy, '--region', 'r', '--engine', 'uffd', '--verify'];

/** The command under a pseudo-terminal: what a terminal would receive (stdout and stderr together). */
function onTerminal(extra: string[]): { status: number | null; screen: string } {
  const quoted = [process.execPath, cli, ...args, ...extra].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('script', ['-qec', quoted, '/dev/null'], { encoding: 'utf8', input: '', timeout: 120_000 });
  return { status: r.status, screen: r.stdout };
}

const PROGRESS = /\r\x1b\[Kfaultc run: (evaluating the policy|touching|verifying) (\d+)\/65536 pages \((\d+)%\), \d+\.\d s/g;

describe.skipIf(why !== '')('faultc run progress', () => {
  test('on a terminal: progress lines redrawn in place, then cleared before the report', () => {
    const r = onTerminal([]);
    expect(r.status).toBe(0);
    const lines = [...r.screen.matchAll(PROGRESS)];
    expect(lines.length).toBeGreaterThan(0);
    for (const m of lines) expect(Number(m[3])).toBe(Math.floor((Number(m[2]) * 100) / 65536));
    // The last progress line is wiped, and the report starts on a clean line.
    expect(r.screen).toMatch(/\r\x1b\[Kpolicy mid, region r: 256 MiB at 0x[0-9a-f]+ \(65536 pages\), engine uffd\r\n/);
    expect(r.screen).toContain('verified 65536 pages byte for byte against the policy and its sources: ok');
  });

  test('through a pipe: no progress, stderr empty', () => {
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toContain('\x1b');
    expect(r.stdout).toMatch(/^policy mid, region r: 256 MiB at 0x[0-9a-f]+ \(65536 pages\), engine uffd\n/);
  });

  test('--json on a terminal: only the JSON', () => {
    const r = onTerminal(['--json']);
    expect(r.status).toBe(0);
    expect(r.screen).not.toContain('\x1b');
    const report = JSON.parse(r.screen.replace(/\r\n/g, '\n')) as { pages: number; verify: { pages: number; mismatches: unknown[] } };
    expect(report.pages).toBe(65536);
    expect(report.verify).toEqual({ pages: 65536, mismatches: [] });
  });
});
