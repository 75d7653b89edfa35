// The kernel engine's host-side parts, on the host's stock kernel: the
// emitted fault program (compiles for every example, names what the loader
// looks for, binds the subskeleton the loader is built with, refuses what is
// not an identifier), the hook probe (absent here),
// the clear refusal of engine 'kernel' without the hook, and the mapping of
// the program's counters to RegionStats. The hook itself is tested in the
// guest by vm-kernel.test.ts.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFile } from '../../codegen/build.js';
import { emitFaultBpf } from '../../codegen/fault-bpf.js';
import { FAULT_COUNTS_MAP, FAULT_EVENTS_MAP, FAULT_PROGRAM_NAME, PAGE_FAULT_CTX_SIZE } from '../../abi/fault.js';
import type { PolicyIR } from '../../compiler/ir.js';
import { loadPolicy } from '../../runtime/index.js';
import { detectKernelEngine, kernelHookVersion, statsFromCounts } from '../../runtime/engines/kernel.js';
import { repoRoot } from '../setup/kernel.js';
import { bpfIncludeFlags } from '../../codegen/clang.js';
import { subskeletonDir } from '../helpers/native-build.js';

const examples = ['debug-guard.pfp', 'postcopy.pfp', 'snapshot-restore.pfp', 'tiered.pfp'];
let out = '';
/** Each example's compiled fault object, by file. */
const faultObjects = new Map<string, string>();

beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'faultc-kernel-host-'));
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

function hostHasHook(): boolean {
  try {
    return execFileSync('uname', ['-r'], { encoding: 'utf8' }).length > 0 && kernelHookVersion() !== null;
  } catch {
    return false;
  }
}

describe('fault program emitter', () => {
  for (const f of examples) {
    it(`${f}: the fault program compiles and has the program and maps the loader needs`, async () => {
      const dir = join(out, f);
      const res = await compileFile(join(repoRoot, 'examples', f), { outDir: dir, emit: ['c', 'obj', 'json'] });
      expect(res.ok, JSON.stringify(res.ok ? [] : res.diagnostics)).toBe(true);
      if (!res.ok) return;
      const policy = res.value[0]?.policy ?? '';
      faultObjects.set(f, join(dir, `${policy}.fault.bpf.o`));
      const c = readFileSync(join(dir, `${policy}.fault.bpf.c`), 'utf8');
      expect(c).toContain(`#include "${policy}.decide.h"`);
      expect(c).toContain(`#define FAULTC_FAULT_DECIDE faultc_decide_${policy}`);
      expect(c.trimEnd().endsWith('#include "fault.bpf.c"')).toBe(true);
      const syms = execFileSync('llvm-objdump', ['-t', join(dir, `${policy}.fault.bpf.o`)], { encoding: 'utf8' });
      for (const name of [FAULT_PROGRAM_NAME, FAULT_EVENTS_MAP, FAULT_COUNTS_MAP]) expect(syms).toMatch(new RegExp(`\\b${name}\\b`));
      // The hook's own section: libbpf knows it once the loader registers it.
      expect(syms).toMatch(/\bpage_fault\b/);
      expect(syms).not.toMatch(/\bsocket\b/);
    });
  }

  it("every example's fault object binds the fault program's subskeleton; the trace program does not", () => {
    const bin = join(out, 'subskel_bind');
    execFileSync('cc', ['-O2', '-Wall', '-Werror', '-I', join(repoRoot, 'native', 'include'), '-I', subskeletonDir(), '-o', bin, join(repoRoot, 'test', 'fixtures', 'subskel_bind.c'), '-lbpf']);
    const objects = [...faultObjects.values()];
    expect(objects).toHaveLength(examples.length);
    const good = spawnSync(bin, objects, { encoding: 'utf8' });
    expect(good.stdout.trim().split('\n')).toEqual(objects.map((o) => `ok ${o}`));
    expect(good.status).toBe(0);
    // An object without the fault program's maps is refused, not bound by accident.
    const traceObj = join(out, 'trace.bpf.o');
    execFileSync('clang', ['-O2', '-g', '-target', 'bpf', ...bpfIncludeFlags(), '-I', join(repoRoot, 'native', 'include'), '-c', join(repoRoot, 'native', 'bpf', 'trace.bpf.c'), '-o', traceObj]);
    const bad = spawnSync(bin, [traceObj], { encoding: 'utf8' });
    expect(bad.stdout.trim()).toBe(`no ${traceObj}`);
    expect(bad.status).toBe(1);
  });

  it('is deterministic and refuses names that are not identifiers', () => {
    const policy = { name: 'p', sources: [], regions: [], engines: [], span: {} } as unknown as PolicyIR;
    expect(emitFaultBpf(policy, { base: 'p' })).toBe(emitFaultBpf(policy, { base: 'p' }));
    expect(() => emitFaultBpf({ ...policy, name: 'p; int x' }, { base: 'p' })).toThrow(/not a C identifier/);
    expect(() => emitFaultBpf(policy, { base: '../p' })).toThrow(/plain file stem/);
    // The context is declared once, in the uapi header the program includes.
    expect(emitFaultBpf(policy, { base: 'p' })).not.toContain('struct bpf_page_fault {');
    expect(readFileSync(join(repoRoot, 'native', 'bpf', 'fault.bpf.c'), 'utf8')).toContain(`sizeof(struct bpf_page_fault) == ${PAGE_FAULT_CTX_SIZE}`);
  });
});

describe('kernel engine on a kernel without the hook', () => {
  it.skipIf(hostHasHook())('detection says no, and engine "kernel" says plainly why', async () => {
    expect(detectKernelEngine()).toBe(false);
    const err = await loadPolicy(join(repoRoot, 'examples', 'debug-guard.pfp'), { engine: 'kernel', cacheDir: join(out, 'cache') }).then(
      () => null,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(err?.code).toBe('FAULTC_ENGINE_UNAVAILABLE');
    expect(err?.message).toMatch(/kernel\//);
  });
});

describe('counters', () => {
  it('map the program counters (struct faultc_counts) to RegionStats', () => {
    expect(statsFromCounts({ faults: 10, zero: 1, fill: 2, copy: 3, sigbus: 4, defer: 5, prefetch: 6, errors: 7 })).toEqual({
      faults: 10,
      resolved: { zero: 1, fill: 2, copy: 3, prefetch: 6 },
      sigbus: 4,
      deferred: 5,
      errors: 7,
      writeFaults: 0,
      raced: 0,
    });
  });
});
