// The decision function inside real BPF programs, loaded into the running
// kernel: #line directives carry through clang into BTF line info, so the
// instructions are reported against the .pfp file's own lines and text; and the
// verifier accepts the decision functions of randomly generated policies (every
// operator, run-time division checks, nested decisions). Needs root and bpffs.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { compileFile } from '../../codegen/build.js';
import { compileBpf } from '../../codegen/clang.js';
import { emitPolicy } from '../../codegen/index.js';
import { Rng } from '../helpers/decide-driver.js';
import { randomPolicy } from '../helpers/random-ir.js';

const root = join(import.meta.dirname, '..', '..');
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

/** A socket program that runs the policy's decision function on unknowable input. */
function probeProgram(base: string): string {
  return `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "${base}.abi.h"
#include "${base}.decide.h"

char LICENSE[] SEC("license") = "GPL";

SEC("socket")
int probe(void *ctx)
{
	struct faultc_fault in = {};
	struct faultc_decision out = {};
	int i;

	in.offset = (__u64)bpf_get_prandom_u32() << 12 | bpf_get_prandom_u32();
	in.address = (__u64)bpf_get_prandom_u32() << 32 | bpf_get_prandom_u32();
	in.region = bpf_get_prandom_u32() & 3;
	in.handler = bpf_get_prandom_u32() & 1;
	in.write = bpf_get_prandom_u32() & 1;
	for (i = 0; i < FAULTC_MAX_SOURCES; i++)
		in.source_size[i] = bpf_get_prandom_u32();
	if (${'faultc_decide_'}${base}(&in, &out))
		return 0;
	return out.action + out.flags + out.prefetch_pages + (int)out.source_offset;
}
`;
}

function load(obj: string, name: string): { ok: boolean; log: string } {
  const pin = `/sys/fs/bpf/faultc_${name}_${process.pid}`;
  try {
    execFileSync('bpftool', ['prog', 'load', obj, pin], { stdio: 'pipe' });
    return { ok: true, log: '' };
  } catch (e) {
    return { ok: false, log: String((e as { stderr?: Buffer }).stderr ?? e).slice(-3000) };
  } finally {
    rmSync(pin, { force: true });
  }
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
    writeFileSync(prog, probeProgram('tiered'));
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

describe.skipIf(reason !== null)('the verifier accepts generated decision functions', () => {
  test('12 random policies, each in a socket program, load into the running kernel', async () => {
    const rng = new Rng(0xb7fn);
    const dir = join(work, 'random');
    let loaded = 0;
    for (let i = 0; i < 12; i++) {
      const policy = randomPolicy(rng, i);
      const sub = join(dir, policy.name);
      mkdirSync(sub, { recursive: true });
      for (const [name, text] of emitPolicy({ file: join(sub, 'gen.pfp'), sourceHash: '0'.repeat(64), policies: [policy] }, policy)) {
        writeFileSync(join(sub, name), text);
      }
      writeFileSync(join(sub, 'probe.bpf.c'), probeProgram(policy.name));
      const cc = await compileBpf({ source: join(sub, 'probe.bpf.c'), output: join(sub, 'probe.bpf.o'), includeDirs: [sub] });
      if (!cc.ok) throw new Error(cc.failure.output);
      const r = load(join(sub, 'probe.bpf.o'), policy.name);
      expect(r.ok, `${policy.name} rejected:\n${r.log}`).toBe(true);
      loaded++;
    }
    expect(loaded).toBe(12);
  });
});
