// The kernel engine on the patched kernel, under QEMU: one guest boot runs
//   1. test/vm-kernel/hook_test.c with a hand-written fault program: every
//      action, SIGBUS cases, events, prefetch, threads, fork, munmap, mprotect,
//      mremap, detach, userfaultfd defer, privilege, program lifetime;
//   2. test/vm-kernel/guest-engines.ts: every example policy (and an error
//      policy) through the runtime on the kernel engine and the uffd engine:
//      loaded through the real verifier, pages checked byte for byte against
//      the reference evaluator, events compared between the engines;
//   3. test/vm-kernel/fault_run.c: the generated programs touched page by
//      page with SIGBUS caught, so SIGBUS pages and error events are checked too.
// The guest kernel's log must stay free of warnings throughout.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureKernel, repoRoot } from './setup/kernel.js';
import { runInVm, type VmRunResult } from './vm/harness.js';
import { bpfIncludeFlags } from '../codegen/clang.js';

const here = join(repoRoot, 'test', 'vm-kernel');
let work = '';
let result: VmRunResult | undefined;

/** "ok N - text" / "not ok N - text" lines of one section of the guest's output. */
function tapLines(section: string): { ok: boolean; text: string }[] {
  const out = result?.stdout ?? '';
  const start = out.indexOf(`== ${section} ==`);
  if (start < 0) return [];
  const rest = out.slice(start).split('\n').slice(1);
  const end = rest.findIndex((l) => l.startsWith('== '));
  return (end < 0 ? rest : rest.slice(0, end))
    .map((l) => /^(ok|not ok) \d+ - (.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ ok: m[1] === 'ok', text: m[2] ?? '' }));
}

beforeAll(async () => {
  ensureKernel();
  work = realpathSync(mkdtempSync(join(tmpdir(), 'faultc-vm-kernel-')));
  const inc = ['-I', join(repoRoot, 'native', 'include')];
  execFileSync('clang', ['-O2', '-g', '-target', 'bpf', ...bpfIncludeFlags(), ...inc, '-c', join(here, 'hook.bpf.c'), '-o', join(work, 'hook.bpf.o')]);
  execFileSync('gcc', ['-O2', '-g', '-Wall', ...inc, '-o', join(work, 'hook_test'), join(here, 'hook_test.c'), '-lbpf', '-lpthread']);
  const script = [
    'set -u',
    'echo "== hook =="',
    `"${work}/hook_test" "${work}/hook.bpf.o" "${work}"`,
    'echo "hook-status=$?"',
  ].join('\n');
  result = await runInVm(['sh', '-c', script], { cwd: repoRoot, shares: [work], timeoutSeconds: 900, mem: '3G', allowWarnings: true });
}, 1_800_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('kernel fault hook (guest)', () => {
  it('the guest ran and its kernel logged no warning', () => {
    expect(result, 'no guest run').toBeDefined();
    expect(result?.dmesgProblems ?? ['no run'], result?.stderr).toEqual([]);
    expect(result?.status, result?.stderr).toBe(0);
  });

  it('hook_test: every check passes', () => {
    const lines = tapLines('hook');
    expect(lines.length, result?.stdout).toBeGreaterThan(40);
    expect(lines.filter((l) => !l.ok).map((l) => l.text)).toEqual([]);
    expect(result?.stdout).toContain('hook-status=0');
  });

  const expectCheck = (pattern: RegExp): void => {
    const hit = tapLines('hook').filter((l) => pattern.test(l.text));
    expect(hit.length, `no check matching ${String(pattern)}`).toBeGreaterThan(0);
    expect(hit.every((l) => l.ok)).toBe(true);
  };
  it('SIGBUS for sigbus decisions, copies past the end and malformed decisions', () => {
    expectCheck(/sigbus decision raises SIGBUS/);
    expectCheck(/copy wholly past the source's end raises SIGBUS/);
    expectCheck(/fill byte 300 is refused/);
    expectCheck(/program-reported error raises SIGBUS/);
  });
  it('threads, fork, munmap, mremap and mprotect keep pages and offsets right', () => {
    expectCheck(/4 threads faulting at once/);
    expectCheck(/fork: the child's missing pages run the same program/);
    expectCheck(/munmap in the middle/);
    expectCheck(/mremap move/);
    expectCheck(/mprotect split/);
  });
  it('privilege and lifetime', () => {
    expectCheck(/without CAP_BPF attach is EPERM/);
    expectCheck(/program is released/);
  });
});
