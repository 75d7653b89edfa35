// Run-time sets on the kernel engine, under QEMU on the patched kernel: the
// fault program tests `page in <set>` in its maps, which Region.addToSet and
// removeFromSet fill (native/src/kernel_sets.c); the handlers of `on write`
// rules test the same sets in their bitmaps. One guest boot runs
// test/vm-kernel/guest-sets.ts: the checks, then (sets-bad.mjs) a touch of a
// page in the set by the program and a write to one by the `on write`
// handler, each of which must end its process with SIGBUS; and libfaultc
// opened on the kernel engine (test/fixtures/libfaultc/use_lib.c with
// FAULTC_OPEN_KERNEL), which must see what it sees on the uffd engine.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicy } from '../../runtime/index.js';
import { expectUseLibOutput } from '../helpers/use-lib.js';
import { ensureKernel, repoRoot } from '../setup/kernel.js';
import { outputSection, runInVm, type VmRunResult } from './harness.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('vm-sets: skipped: needs root (qemu, BPF and userfaultfd in the guest run as the caller)');

const guest = join(repoRoot, 'test', 'vm-kernel', 'guest-sets.ts');
let work = '';
let result: VmRunResult | undefined;

interface Bad {
  mode: string;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** The guest script's JSON line, without the children's part; and that part. */
function checked(): { got: Record<string, unknown> | undefined; bad: Bad[] } {
  const line = section('check').find((l) => l.startsWith('{'));
  if (!line) return { got: undefined, bad: [] };
  const got = JSON.parse(line) as Record<string, unknown> & { bad?: Bad[] };
  const bad = got.bad ?? [];
  delete got.bad;
  return { got, bad };
}

function section(name: string): string[] {
  return outputSection(result?.stdout ?? '', name);
}

function status(name: string): number | undefined {
  const m = new RegExp(`^${name}-status=(\\d+)$`, 'm').exec(result?.stdout ?? '');
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

beforeAll(async () => {
  if (!isRoot) return;
  ensureKernel();
  work = realpathSync(mkdtempSync(join(tmpdir(), 'faultc-vm-sets-')));
  const cacheDir = join(work, 'policies');
  // Compiled here: the guest finds the artifacts in the cache (compiling there is slow).
  const p = await loadPolicy(join(repoRoot, 'test', 'vm-kernel', 'sets.pfp'), { engine: 'uffd', cacheDir });
  await p.close();
  // libfaultc: the C program of test/codegen/sets.test.ts, on the kernel engine.
  const cli = join(repoRoot, 'dist', 'runtime', 'cli.js');
  const compiled = spawnSync(process.execPath, [cli, 'compile', join(repoRoot, 'test', 'fixtures', 'libfaultc', 'marked.pfp'), '-o', join(work, 'out')], { encoding: 'utf8' });
  if (compiled.status !== 0) throw new Error(`faultc compile: ${compiled.stderr}`);
  const release = join(repoRoot, 'native', 'build', 'Release');
  const cc = spawnSync('cc', ['-O1', '-g', `-I${join(repoRoot, 'native', 'include')}`, '-o', join(work, 'use_lib'), join(repoRoot, 'test', 'fixtures', 'libfaultc', 'use_lib.c'), `-L${release}`, '-lfaultc', `-Wl,-rpath,${release}`], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc use_lib.c: ${cc.stderr}`);
  const lines = [
    'set -u',
    'echo "== check =="',
    `npx vite-node "${guest}" -- "${cacheDir}"`,
    'echo "check-status=$?"',
    'echo "== libfaultc =="',
    `"${work}/use_lib" "${work}/out/marked" kernel`,
    'echo "libfaultc-status=$?"',
  ];
  result = await runInVm(['sh', '-c', lines.join('\n')], { cwd: repoRoot, shares: [work], timeoutSeconds: 600, mem: '2G' });
}, 900_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!isRoot)('run-time sets on the kernel engine (QEMU)', () => {
  it('the guest ran and its kernel logged no problem', () => {
    expect(result?.status, `${result?.stdout}\n${result?.stderr}`).toBe(0);
    expect(result?.dmesgProblems).toEqual([]);
  });

  it('pages in a set as the program and the handlers see them; the others filled; misuse has codes', () => {
    const { got } = checked();
    expect(got, `${section('check').join('\n')}\n${result?.stderr}`).toBeDefined();
    expect(status('check')).toBe(0);
    expect(got).toEqual({
      has: [true, true, false, true, false],
      hasW: [true, false],
      errors: ['FAULTC_SET_NOT_FOUND', 'FAULTC_SET_RANGE', 'FAULTC_SET_RANGE'],
      values: [0x5a, 0x5a, 0x5a, 0x5a, 0, 0],
      page30: 0x5a,
      stats: { faults: 7, fill: 5, zero: 2, sigbus: 0 },
      dirty: [0, 1, 3],
      wStats: { writeFaults: 3, sigbus: 0 },
      notifyEvents: 5,
    });
  });

  it('libfaultc on the kernel engine: sets in the program\'s maps, SIGBUS exactly there, stats and events as on uffd', () => {
    const lines = section('libfaultc');
    expect(status('libfaultc'), lines.join('\n')).toBe(0);
    expectUseLibOutput(lines.filter((l) => !l.startsWith('libfaultc-status=')));
  });

  it('a touch of a page in the set ends the process with SIGBUS, from the program and from the `on write` handler', () => {
    const { bad } = checked();
    expect(bad.map((b) => [b.mode, b.signal, b.stdout]), JSON.stringify(bad)).toEqual([
      ['bad-r', 'SIGBUS', ''],
      ['bad-w', 'SIGBUS', ''],
    ]);
  });
});
