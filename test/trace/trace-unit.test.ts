// The trace engine's pure parts: the emitter (deterministic, escapes nothing it
// has not checked), the program's constants (native/include/faultc_trace.h
// against abi/trace.ts), the
// argument and /proc/PID/maps parsers, the working-set recorder, and the
// verifier-log reader. No root needed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { bpfIncludeFlags } from '../../codegen/clang.js';
import { emitTraceBpf } from '../../codegen/trace-bpf.js';
import { TRACE_EVENT_BITS, TRACE_FLAGS, TRACE_LIMITS, TRACE_MODES, TRACE_NAME_RECORD, TRACE_TARGET } from '../../abi/trace.js';
import { parseRangeArg, parseSize } from '../../runtime/trace/args.js';
import { parseMaps, vmaOffset } from '../../runtime/proc/maps.js';
import { WorkingSetRecorder } from '../../runtime/trace/record.js';
import { failingPlace, logPlaces, logVerdict } from '../../runtime/bpf/verify.js';
import { kernelDev, trace, type TraceEvent } from '../../runtime/trace/trace.js';
import * as api from '../../runtime/index.js';
import { policy, region, S } from '../helpers/ir-build.js';

const root = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'faultc-trace-unit-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('emitTraceBpf', () => {
  const p = policy('guarded', [region(0, 'arena', { onMissing: [S.fill(0xa5)] }), region(1, 'guard', { onMissing: [S.notify(), S.sigbus()] })]);

  test('is deterministic and names the policy decision function and headers', () => {
    const a = emitTraceBpf(p, { base: 'guarded' });
    expect(emitTraceBpf(p, { base: 'guarded' })).toBe(a);
    expect(a).toContain('#include "guarded.abi.h"');
    expect(a).toContain('#include "guarded.decide.h"');
    expect(a).toContain('#define FAULTC_TRACE_DECIDE faultc_decide_guarded');
    // The program is native/bpf/trace.bpf.c: the emitted file carries only the policy's part.
    expect(a.trimEnd().endsWith('#include "trace.bpf.c"')).toBe(true);
    expect(a).not.toContain('SEC(');
    expect(a).toContain(' *   region 1: guard');
  });

  test('refuses names that are not C identifiers or plain file stems', () => {
    expect(() => emitTraceBpf({ ...p, name: 'x"; evil' }, { base: 'x' })).toThrow(/not a C identifier/);
    expect(() => emitTraceBpf(p, { base: '../etc/x' })).toThrow(/plain file stem/);
    const bad = policy('ok', [region(0, 'a*/b', { onMissing: [S.zero()] })]);
    expect(() => emitTraceBpf(bad, { base: 'ok' })).toThrow(/region name/);
  });

  test('native/include/faultc_trace.h has the numbers of abi/trace.ts', () => {
    const names: [string, number][] = [
      ['FAULTC_MAX_RANGES', TRACE_LIMITS.maxRanges],
      ['FAULTC_MAX_FILES', TRACE_LIMITS.maxFiles],
      ['FAULTC_MAX_REGIONS', TRACE_LIMITS.maxRegions],
      ['FAULTC_MAX_TARGETS', TRACE_LIMITS.maxTargets],
      ['FAULTC_TRACE_RING_BYTES', TRACE_LIMITS.defaultRingBytes],
      ['FAULTC_MODE_TRACE', TRACE_MODES.trace],
      ['FAULTC_MODE_NOTIFY', TRACE_MODES.notify],
      ['FAULTC_TF_PROT', TRACE_FLAGS.protFaults],
      ['FAULTC_TF_FOLLOW', TRACE_FLAGS.followForks],
      ['FAULTC_TF_KERNEL', TRACE_FLAGS.kernelFaults],
      ['FAULTC_TARGET_TRACED', TRACE_TARGET.traced],
      ['FAULTC_TARGET_AT_EXEC', TRACE_TARGET.atExec],
      ['FAULTC_EV_WRITE', TRACE_EVENT_BITS.write],
      ['FAULTC_EV_KERNEL_MODE', TRACE_EVENT_BITS.kernelMode],
      ['FAULTC_NAME_RECORD', TRACE_NAME_RECORD],
    ];
    const src = join(work, 'trace-consts.c');
    const lines = ['#include <stdio.h>', '#include "faultc_trace.h"', 'int main(void)', '{'];
    for (const [n] of names) lines.push(`\tprintf("%llu\\n", (unsigned long long)(${n}));`);
    writeFileSync(src, [...lines, '\treturn 0;', '}', ''].join('\n'));
    execFileSync('cc', ['-Wall', '-Werror', '-I', join(root, 'native', 'include'), '-o', join(work, 'trace-consts'), src]);
    const got = execFileSync(join(work, 'trace-consts'), { encoding: 'utf8' }).trim().split('\n').map(Number);
    expect(Object.fromEntries(names.map(([n], i) => [n, got[i]]))).toEqual(Object.fromEntries(names));
  });

  test('the policy-free program (native/bpf/trace.bpf.c) compiles with clang -target bpf', () => {
    const src = join(root, 'native', 'bpf', 'trace.bpf.c');
    const obj = join(work, 'generic.o');
    execFileSync('clang', ['-O2', '-g', '-target', 'bpf', '-Wall', '-Werror', ...bpfIncludeFlags(), '-idirafter', join(root, 'native', 'include'), '-c', src, '-o', obj]);
    const sections = execFileSync('llvm-objdump', ['-h', obj], { encoding: 'utf8' });
    expect(sections).toContain('tp_btf/page_fault_user');
    expect(sections).toContain('tp_btf/page_fault_kernel');
    // Load-time configuration is read-only data, the live counts a mapped data section.
    expect(sections).toContain('.rodata.config');
    expect(sections).toContain('.data.live');
    expect(sections).toContain('.BTF.ext');
  });
});

test('trace() is part of the public API', () => {
  expect(api.trace).toBe(trace);
});

test("device numbers in the kernel's encoding (MAJOR << 20 | MINOR) from stat's", () => {
  // glibc's makedev: major 8 minor 1 is 0x801; major 259 minor 70000 spreads over both halves.
  const makedev = (major: bigint, minor: bigint) =>
    ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);
  expect(kernelDev(0x801n)).toBe((8n << 20n) | 1n);
  expect(kernelDev(makedev(259n, 70000n))).toBe((259n << 20n) | 70000n);
  expect(kernelDev(makedev(0x1234n, 5n))).toBe((0x1234n << 20n) | 5n);
});

describe('trace arguments', () => {
  test('sizes', () => {
    expect(parseSize('4096')).toBe(4096n);
    expect(parseSize('0x7f00_0000')).toBe(0x7f000000n);
    expect(parseSize('64MiB')).toBe(64n << 20n);
    expect(parseSize('16 pages')).toBe(16n * 4096n);
    expect(parseSize('12 parsecs')).toBeUndefined();
    expect(parseSize('')).toBeUndefined();
  });

  test('ranges and placements', () => {
    expect(parseRangeArg('0x500000000000:16pages')).toEqual({ kind: 'range', start: 0x500000000000n, length: 65536n });
    expect(parseRangeArg('heap=0x7f0000000000')).toEqual({ kind: 'place', region: 'heap', start: 0x7f0000000000n });
    expect(parseRangeArg('heap=0x7f0000000001')).toMatch(/page boundary/);
    expect(parseRangeArg('0x1000')).toMatch(/START:LEN/);
    expect(parseRangeArg('0x1000:0')).toMatch(/bad length/);
    expect(parseRangeArg('0xffffffffffffffff:2')).toMatch(/past the end/);
  });
});

describe('/proc/PID/maps', () => {
  const maps = [
    '55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0                          [heap]',
    '7f1200000000-7f1200002000 r--p 00000000 08:01 1234                       /usr/lib/libx.so.1',
    '7f1200002000-7f1200005000 r-xp 00002000 08:01 1234                       /usr/lib/libx.so.1',
    '7f1300000000-7f1300010000 rw-p 00000000 00:00 0                          [anon:my arena]',
    '7f1300020000-7f1300030000 rw-p 00000000 00:00 0                          [anon:my arena]',
    '7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]',
    'garbage line',
  ].join('\n');

  test('parses names with spaces and skips junk', () => {
    const v = parseMaps(maps);
    expect(v).toHaveLength(6);
    expect(v[3]!.name).toBe('[anon:my arena]');
    expect(v[2]!.fileOffset).toBe(0x2000n);
  });

  test('offsets: files by file offset, anonymous from the lowest mapping', () => {
    const v = parseMaps(maps);
    expect(vmaOffset(v, '/usr/lib/libx.so.1', 0x7f1200003000n)).toBe(0x3000n);
    expect(vmaOffset(v, '[anon:my arena]', 0x7f1300021000n)).toBe(0x21000n);
    expect(vmaOffset(v, '[heap]', 0x55d0c0a01000n)).toBe(0x1000n);
    expect(vmaOffset(v, '[heap]', 0x7f1300000000n)).toBeUndefined();
  });
});

describe('working-set record', () => {
  test('first touches in order, each page once, repeats counted', () => {
    const rec = new WorkingSetRecorder([{ index: 0, name: 'a', start: 0x1000n, size: 0x10000n }]);
    const ev = (offset: bigint, time: number): TraceEvent => ({
      time,
      address: 0x1000n + offset,
      offset,
      region: 0,
      regionName: 'a',
      pid: 1,
      tid: 1,
      comm: 'app',
      access: 'read',
      mode: 'user',
      handler: 'missing',
    });
    for (const [o, t] of [[0x3000n, 5], [0x1000n, 7], [0x3000n, 9], [0x0n, 11]] as const) rec.add(ev(o, t));
    const ws = rec.result(2n);
    expect(ws.regions[0]!.pages).toEqual([3, 1, 0]);
    expect(ws.regions[0]!.times).toEqual([5, 7, 11]);
    expect(ws.regions[0]!.faults).toBe(4);
    expect(ws.regions[0]!.start).toBe('0x1000');
    expect(ws.lostEvents).toBe('2');
  });
});

describe('verifier log reading', () => {
  const log = [
    'func#0 @0',
    '0: R1=ctx() R10=fp0',
    '; __u8 *v = bpf_map_lookup_elem(&counts, &zero); @ broken.bpf.c:33',
    '6: (85) call bpf_map_lookup_elem#1',
    '; fill 0x5A @ broken.pfp:6',
    '8: (71) r6 = *(u8 *)(r0 +8)',
    'invalid access to map value, value_size=8 off=8 size=1',
    'R0 min value is outside of the allowed memory range',
    'processed 8 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0',
  ].join('\n');

  test('finds the source places and the failing one', () => {
    expect(logPlaces(log).map((p) => `${p.file}:${p.line}`)).toEqual(['broken.bpf.c:33', 'broken.pfp:6']);
    expect(failingPlace(log)).toEqual({ file: 'broken.pfp', line: 6, logText: 'fill 0x5A' });
  });

  test('the verdict ends at the rejection message, not the statistics', () => {
    const v = logVerdict(log, 2);
    expect(v).toEqual(['invalid access to map value, value_size=8 off=8 size=1', 'R0 min value is outside of the allowed memory range']);
  });
});
