// #line directives carry through clang into BTF line info: a BPF program that
// runs an example's decision function, loaded into the running kernel, reports
// its instructions against the .pfp file's own lines and text. Needs root and
// bpffs (the kernel's verifier is the real thing here).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { compileFile } from '../codegen/build.js';
import { compileBpf } from '../codegen/clang.js';

const root = join(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'faultc-btf-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function whyNot(): string | null {
  if (process.getuid?.() !== 0) return 'not root: loading a BPF program needs CAP_BPF';
  try {
    execFileSync('bpftool', ['version'], { stdio: 'pipe' });
  } catch {
    return 'bpftool is not installed';
  }
  if (!existsSync('/sys/fs/bpf')) return 'no bpffs at /sys/fs/bpf';
  return null;
}

const reason = whyNot();
if (reason) console.log(`codegen-btf: skipped: ${reason}`);

describe.skipIf(reason !== null)('BTF line info names .pfp lines', () => {
  test('tiered.pfp: loaded instructions carry the policy file, line numbers and text', async () => {
    const pfp = join(root, 'examples', 'tiered.pfp');
    const out = join(work, 'out');
    const r = await compileFile(pfp, { outDir: out, emit: ['c'] });
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
    const prog = join(work, 'probe.bpf.c');
    writeFileSync(
      prog,
      `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "tiered.abi.h"
#include "tiered.decide.h"

char LICENSE[] SEC("license") = "GPL";

SEC("socket")
int probe(void *ctx)
{
	struct faultc_fault in = {};
	struct faultc_decision out = {};

	in.offset = (__u64)bpf_get_prandom_u32() << 12;
	in.handler = bpf_get_prandom_u32() & 1;
	in.write = bpf_get_prandom_u32() & 1;
	in.source_size[0] = bpf_get_prandom_u32();
	if (faultc_decide_tiered(&in, &out))
		return 0;
	return out.action + out.flags + (int)out.source_offset;
}
`,
    );
    const obj = join(work, 'probe.bpf.o');
    const cc = await compileBpf({ source: prog, output: obj, includeDirs: [out], pfpDir: join(root, 'examples') });
    if (!cc.ok) throw new Error(cc.failure.output);
    const pin = `/sys/fs/bpf/faultc_btf_test_${process.pid}`;
    try {
      execFileSync('bpftool', ['prog', 'load', obj, pin], { stdio: 'pipe' });
      const dump = execFileSync('bpftool', ['prog', 'dump', 'xlated', 'pinned', pin, 'linum'], { encoding: 'utf8' });
      const pfpLines = readFileSync(pfp, 'utf8').split('\n');
      const seen = new Map<number, string>();
      for (const m of dump.matchAll(/^; (.*) \[file:(\S+) line_num:(\d+) line_col:\d+\]$/gm)) {
        const [, text = '', file = '', line = '0'] = m;
        if (file.endsWith('/tiered.pfp')) seen.set(Number(line), text);
      }
      // Statements and conditions are attributed to their .pfp lines (the optimiser
      // merges some stores, so not every statement keeps an instruction of its own).
      const want = pfpLines
        .map((text, i) => ({ text: text.trim(), line: i + 1 }))
        .filter((l) => /^(if|copy|zero|notify|} else if)/.test(l.text));
      expect(want.length).toBeGreaterThanOrEqual(4);
      const found = want.filter((l) => seen.has(l.line));
      expect(found.length, `lines seen: ${[...seen.keys()].join(',')}`).toBeGreaterThanOrEqual(2);
      for (const [line, text] of seen) expect(text.trim()).toBe((pfpLines[line - 1] ?? '').trim());
    } finally {
      rmSync(pin, { force: true });
    }
  });
});
