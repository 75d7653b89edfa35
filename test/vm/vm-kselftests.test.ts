// The series' own kselftests, in the guest: tools/testing/selftests/mm/fault_policy.c
// and tools/testing/selftests/bpf/test_page_fault.c as the patches add them
// (extracted from kernel/patches/ with git apply), built against the image's
// uapi headers and the source's kselftest harness, run in one guest boot.
// Each reports in the kselftest TAP format: every test must be `ok`, the
// plan complete, the exit status 0, and the guest kernel's log clean.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureKernel, repoRoot } from '../setup/kernel.js';
import { outputSection, runInVm, type VmRunResult } from './harness.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('vm-kselftests: skipped: needs root (qemu and BPF in the guest run as the caller)');

const tests = [
  { name: 'mm', file: 'tools/testing/selftests/mm/fault_policy.c', min: 10 },
  { name: 'bpf', file: 'tools/testing/selftests/bpf/test_page_fault.c', min: 8 },
];
let work = '';
let result: VmRunResult | undefined;

beforeAll(async () => {
  if (!isRoot) return;
  const image = ensureKernel();
  const headers = join(dirname(image), 'headers', 'include');
  const src = execFileSync(join(repoRoot, 'kernel', 'fetch-source.sh'), [], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop() ?? '';
  work = realpathSync(mkdtempSync(join(tmpdir(), 'faultc-kselftests-')));
  // The harness beside the tests, as in the tree: "../kselftest_harness.h".
  const tree = join(work, 'tools', 'testing', 'selftests');
  mkdirSync(tree, { recursive: true });
  for (const h of ['kselftest_harness.h', 'kselftest.h']) execFileSync('cp', [join(src, 'tools', 'testing', 'selftests', h), tree]);
  const patches = readdirSync(join(repoRoot, 'kernel', 'patches')).filter((f) => f.endsWith('.patch') && !f.startsWith('0000-'));
  for (const t of tests) {
    execFileSync('git', ['apply', `--include=${t.file}`, ...patches.map((p) => join(repoRoot, 'kernel', 'patches', p))], { cwd: work });
    execFileSync('gcc', ['-O2', '-Wall', '-Werror', '-I', headers, '-o', join(work, t.name), join(work, t.file)]);
  }
  const lines = tests.flatMap((t) => [`echo "== ${t.name} =="`, `"${work}/${t.name}"`, 'echo "status=$?"']);
  result = await runInVm(['sh', '-c', lines.join('\n')], { cwd: work, shares: [work], timeoutSeconds: 600 });
}, 1_800_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!isRoot)('the series kselftests (guest, TAP)', () => {
  it('the guest ran them and its kernel logged no warning', () => {
    expect(result?.dmesgProblems ?? ['no run'], result?.stderr).toEqual([]);
    expect(result?.status, result?.stderr).toBe(0);
  });

  for (const t of tests) {
    it(`${t.file}: every test ok, the plan complete`, () => {
      const out = outputSection(result?.stdout ?? '', t.name);
      expect(out[0]).toBe('TAP version 13');
      const plan = Number(/^1\.\.(\d+)$/m.exec(out.join('\n'))?.[1] ?? NaN);
      expect(plan).toBeGreaterThanOrEqual(t.min);
      const results = out.filter((l) => /^(not )?ok \d+ /.test(l));
      expect(results.length, out.join('\n')).toBe(plan);
      expect(results.filter((l) => !l.startsWith('ok ') || / # SKIP/.test(l)), out.join('\n')).toEqual([]);
      expect(out).toContain('status=0');
    });
  }
});
