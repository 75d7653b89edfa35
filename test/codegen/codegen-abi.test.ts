// The ABI header: the committed copy in native/include matches ABI_HEADER, and
// the struct layouts C actually produces (host and BPF) match ABI_LAYOUTS.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ABI_HEADER, ABI_LAYOUTS } from '../../abi/abi.js';
import { bpfIncludeFlags } from '../../codegen/clang.js';
import { emitAbiH } from '../../codegen/index.js';

const root = join(import.meta.dirname, '..', '..');
const committed = join(root, 'native', 'include', 'faultc_abi.h');
const work = mkdtempSync(join(tmpdir(), 'faultc-abi-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Layouts = typeof ABI_LAYOUTS;

function layoutProgram(): string {
  const lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "faultc_abi.h"', 'int main(void)', '{'];
  for (const [struct, layout] of Object.entries(ABI_LAYOUTS) as [keyof Layouts, Layouts[keyof Layouts]][]) {
    lines.push(`\tprintf("${struct} size %zu\\n", sizeof(struct ${struct}));`);
    for (const field of Object.keys(layout.fields)) {
      lines.push(`\tprintf("${struct} ${field} %zu\\n", offsetof(struct ${struct}, ${field}));`);
    }
  }
  lines.push('\treturn 0;', '}');
  return lines.join('\n') + '\n';
}

function staticAsserts(): string {
  const lines = ['#include <linux/types.h>', '#include "faultc_abi.h"'];
  for (const [struct, layout] of Object.entries(ABI_LAYOUTS) as [keyof Layouts, Layouts[keyof Layouts]][]) {
    lines.push(`_Static_assert(sizeof(struct ${struct}) == ${layout.size}, "size of ${struct}");`);
    for (const [field, off] of Object.entries(layout.fields)) {
      lines.push(`_Static_assert(__builtin_offsetof(struct ${struct}, ${field}) == ${off}, "${struct}.${field}");`);
    }
  }
  return lines.join('\n') + '\n';
}

describe('ABI header', () => {
  test('native/include/faultc_abi.h is ABI_HEADER (UPDATE_GOLDENS=1 rewrites it)', () => {
    if (process.env.UPDATE_GOLDENS === '1') writeFileSync(committed, ABI_HEADER);
    expect(readFileSync(committed, 'utf8')).toBe(ABI_HEADER);
    expect(emitAbiH()).toBe(ABI_HEADER);
  });

  test('host C layouts equal ABI_LAYOUTS', () => {
    writeFileSync(join(work, 'faultc_abi.h'), ABI_HEADER);
    writeFileSync(join(work, 'layout.c'), layoutProgram());
    execFileSync('cc', ['-std=c11', '-Wall', '-Werror', '-I', work, '-o', join(work, 'layout'), join(work, 'layout.c')]);
    const out = execFileSync(join(work, 'layout'), { encoding: 'utf8' });
    const measured: Record<string, { size: number; fields: Record<string, number> }> = {};
    for (const line of out.trim().split('\n')) {
      const [struct, what, n] = line.split(' ') as [string, string, string];
      const entry = (measured[struct] ??= { size: -1, fields: {} });
      if (what === 'size') entry.size = Number(n);
      else entry.fields[what] = Number(n);
    }
    expect(measured).toEqual(JSON.parse(JSON.stringify(ABI_LAYOUTS)));
  });

  test('BPF C layouts equal ABI_LAYOUTS (static asserts under clang -target bpf)', () => {
    writeFileSync(join(work, 'faultc_abi.h'), ABI_HEADER);
    writeFileSync(join(work, 'asserts.c'), staticAsserts());
    execFileSync('clang', ['-target', 'bpf', ...bpfIncludeFlags(), '-I', work, '-fsyntax-only', join(work, 'asserts.c')]);
    // The same asserts must be able to fail: a wrong size is refused.
    writeFileSync(join(work, 'wrong.c'), staticAsserts().replace('== 96', '== 97'));
    expect(() =>
      execFileSync('clang', ['-target', 'bpf', ...bpfIncludeFlags(), '-I', work, '-fsyntax-only', join(work, 'wrong.c')], {
        stdio: 'pipe',
      }),
    ).toThrow();
  });
});
