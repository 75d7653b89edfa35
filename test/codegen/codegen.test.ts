// Code generation on hand-built IR: deterministic bytes, escaping that no policy
// text can get past, C that compiles for the host and for BPF, manifests that
// round-trip, and a build that leaves nothing behind when it fails.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { Expr, PolicyIR, ProgramIR } from '../../compiler/ir.js';
import { allCodes } from '../../base/codes.js';
import { compileProgram } from '../../codegen/build-program.js';
import { INTERNAL_CODES } from '../../codegen/codes.js';
import { cComment, cIdent, cLine, cString, cU64, CEscapeError } from '../../codegen/c-escape.js';
import { bpfIncludeFlags } from '../../codegen/clang.js';
import { emitDecideH } from '../../codegen/decide-c.js';
import { emitDecideHostC } from '../../codegen/decide-host.js';
import { emitAbiH, emitPolicy } from '../../codegen/index.js';
import { parseManifest, readManifestResult, renderManifest } from '../../codegen/manifest.js';
import { E, S, policy, region } from '../helpers/ir-build.js';
import { checkSource } from '../../compiler/index.js';

const work = mkdtempSync(join(tmpdir(), 'faultc-codegen-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function program(p: PolicyIR, file = '/policies/test.pfp'): ProgramIR {
  return { file, sourceHash: 'ab'.repeat(32), policies: [p] };
}

function sample(name = 'sample'): PolicyIR {
  return policy(
    name,
    [
      region(0, 'heap', {
        onMissing: [
          S.if(
            E.bin('and', E.bin('<', E.v('offset'), E.c(1 << 20)), E.bin('<', E.v('offset'), E.size(0))),
            [S.copy(0, E.v('offset')), S.prefetch(15)],
            [S.if(E.v('write'), [S.zero(), S.notify()], [S.fill(0xa5)])],
          ),
        ],
        onWrite: [S.trackDirty()],
      }),
      region(1, 'guard', { onMissing: [S.notify(), S.sigbus()], at: 0x7e0000000000n, size: 4096n }),
      region(2, 'plain', {}),
    ],
    ['image'],
  );
}

/** Compiles a decide.h for the host and for BPF; throws with clang's words on failure. */
function compileBoth(dir: string, base: string, files: Map<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [n, t] of files) writeFileSync(join(dir, n), t);
  writeFileSync(join(dir, 'host.c'), emitDecideHostC(base));
  execFileSync('cc', ['-std=gnu11', '-Wall', '-Werror', '-O2', '-I', dir, '-c', join(dir, 'host.c'), '-o', join(dir, 'host.o')], {
    stdio: 'pipe',
  });
  writeFileSync(
    join(dir, 'bpf.c'),
    `#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n#include "${base}.abi.h"\n#include "${base}.decide.h"\n` +
      `char LICENSE[] SEC("license") = "GPL";\n` +
      `SEC("socket") int prog(void *ctx)\n{\n\tstruct faultc_fault in = {};\n\tstruct faultc_decision out = {};\n` +
      `\tin.offset = bpf_get_prandom_u32();\n\tin.region = bpf_get_prandom_u32() & 3;\n` +
      `\treturn faultc_decide_${base}(&in, &out) + (int)out.action;\n}\n`,
  );
  execFileSync('clang', ['-O2', '-g', '-target', 'bpf', ...bpfIncludeFlags(), '-Wall', '-Werror', '-I', dir, '-c', join(dir, 'bpf.c'), '-o', join(dir, 'bpf.o')], {
    stdio: 'pipe',
  });
}

describe('determinism', () => {
  test('emitting twice, and from a deep copy of the IR, gives the same bytes', () => {
    const p = sample();
    const a = emitPolicy(program(p), p);
    const b = emitPolicy(program(p), p);
    const copy = structuredClone(p);
    const c = emitPolicy(program(copy), copy);
    expect([...a.keys()]).toEqual([
      'sample.abi.h',
      'sample.decide.h',
      'sample.fault.bpf.c',
      'sample.policy.json',
      'sample.trace.bpf.c',
    ]);
    expect([...b.entries()]).toEqual([...a.entries()]);
    expect([...c.entries()]).toEqual([...a.entries()]);
    for (const text of a.values()) {
      expect(text).not.toMatch(/\/tmp\//);
      expect(text).not.toMatch(/20\d\d-\d\d-\d\dT/);
    }
  });

  test('the decide.h does not depend on where the .pfp lives, only on its name', () => {
    const p = sample();
    const a = emitPolicy(program(p, '/a/b/test.pfp'), p).get('sample.decide.h');
    const b = emitPolicy(program(p, '/elsewhere/test.pfp'), p).get('sample.decide.h');
    expect(a).toBe(b);
  });
});

describe('generated C', () => {
  test('compiles for the host and for BPF with -Wall -Werror', () => {
    const p = sample();
    compileBoth(join(work, 'sample'), 'sample', emitPolicy(program(p), p));
  });

  test('#line directives name .pfp lines and return to the header own lines', () => {
    const p = sample();
    const h = emitDecideH(p, { base: 'sample', lineFile: 'test.pfp' });
    const lines = h.split('\n');
    expect(lines.some((l) => /^#line \d+ "test\.pfp"$/.test(l))).toBe(true);
    for (let i = 0; i < lines.length; i++) {
      const m = /^#line (\d+) "sample\.decide\.h"$/.exec(lines[i] ?? '');
      if (m) expect(Number(m[1])).toBe(i + 2); // the line after the directive is its own number
    }
    // The copy statement of region heap is attributed to its span's line.
    const ifStmt = p.regions[0]?.onMissing?.[0];
    if (ifStmt?.kind !== 'if') throw new Error('fixture');
    const copyLine = ifStmt.then[0]?.span.startLine;
    const at = lines.indexOf(`#line ${copyLine} "test.pfp"`);
    expect(at).toBeGreaterThan(0);
    expect(lines.slice(at, at + 10).join('\n')).toMatch(/FAULTC_ACT_COPY/);
  });

  test('an expression nested 300 deep still compiles (cut into temporaries)', () => {
    let e: Expr = E.v('offset');
    const ops = ['+', '<<', '/', '==', 'and', '%', '-', 'or', '>>', '*', '&', '|', '<', '>=', '!='] as const;
    for (let i = 0; i < 300; i++) e = i % 7 === 3 ? E.not(e) : E.bin(ops[i % ops.length] ?? '+', e, E.c(i + 1));
    const p = policy('deep', [region(0, 'r', { onMissing: [S.if(e, [S.zero()], [S.sigbus()])] })]);
    compileBoth(join(work, 'deep'), 'deep', emitPolicy(program(p), p));
  });

  test('division by a run-time value is guarded; by a non-zero constant it is not', () => {
    const p = policy('div', [
      region(0, 'r', {
        onMissing: [S.if(E.bin('<', E.bin('/', E.v('offset'), E.v('page')), E.bin('%', E.v('offset'), E.c(7))), [S.zero()], [S.sigbus()])],
      }),
    ]);
    const h = emitDecideH(p, { base: 'div', lineFile: 'x.pfp' });
    expect(h.match(/FAULTC_ERR_DIVIDE_BY_ZERO/g)?.length).toBe(1);
    expect(h).toMatch(/if \(t\d+ == 0\)/);
  });
});

describe('readable C', () => {
  test('constants that had a unit carry it in a comment; regions are an enum, not numbers', () => {
    const src = [
      'policy units {',
      '  source img = file "x.img"',
      '  region heap size 8 MiB {',
      '    on missing {',
      '      if offset < 1 MiB + 512 KiB { copy img at offset }',
      '      else if offset >= heap.size - 3 pages { sigbus }',
      '      else if offset % 4096 == 12 { zero }',
      '      else { fill 0 }',
      '    }',
      '  }',
      '  region Heap size 64 KiB { on missing { zero } }',
      '}',
    ].join('\n');
    const r = checkSource(src, '/p/units.pfp');
    expect(r.ok, JSON.stringify(r.ok ? [] : r.diagnostics)).toBe(true);
    if (!r.ok) return;
    const p = r.value.policies[0] as PolicyIR;
    const h = emitDecideH(p, { base: 'units', lineFile: 'units.pfp' });
    // A folded sum of sizes reads in the largest unit that divides it; a written unit as written.
    expect(h).toContain('0x180000ULL /* 1536 KiB */');
    expect(h).toContain('0x7fd000ULL /* 8180 KiB */');
    // A plain number has no unit: no comment.
    expect(h).toMatch(/0x1000ULL\)/);
    expect(h).not.toMatch(/0x1000ULL \/\*/);
    expect(h).toContain('enum faultc_region_units {\n\tFAULTC_REGION_units_heap = 0U,\n\tFAULTC_REGION_units_Heap = 1U,\n};');
    expect(h).toContain('case FAULTC_REGION_units_heap: {');
    expect(h).toContain('case FAULTC_REGION_units_Heap: {');
    expect(h).not.toMatch(/case \d/);
    const dir = join(work, 'units');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'units.abi.h'), emitAbiH());
    writeFileSync(join(dir, 'units.decide.h'), h);
    writeFileSync(join(dir, 'u.c'), '#include "units.decide.h"\nint f(const struct faultc_fault *in, struct faultc_decision *out) { return faultc_decide_units(in, out); }\n');
    execFileSync('cc', ['-Wall', '-Werror', '-I', dir, '-c', join(dir, 'u.c'), '-o', join(dir, 'u.o')]);
  });
});

describe('escaping', () => {
  test('identifiers: only [A-Za-z_][A-Za-z0-9_]*, always prefixed', () => {
    expect(cIdent('decide', 'int')).toBe('faultc_decide_int');
    for (const bad of ['', '1a', 'a b', 'a;b', 'x"', 'a\nb', 'é', 'a-b', 'a/*', '__proto__\0']) {
      expect(() => cIdent('decide', bad)).toThrow(CEscapeError);
    }
  });

  test('policies differing only in case can share a translation unit', () => {
    const lower = policy('pol', [region(0, 'r', { onMissing: [S.zero()] })]);
    const upper = policy('POL', [region(0, 'r', { onMissing: [S.sigbus()] })]);
    const dir = join(work, 'case');
    mkdirSync(dir, { recursive: true });
    for (const p of [lower, upper]) for (const [n, t] of emitPolicy(program(p), p)) writeFileSync(join(dir, n), t);
    writeFileSync(
      join(dir, 'both.c'),
      '#include <linux/types.h>\n#include "pol.decide.h"\n#include "POL.decide.h"\n' +
        'int both(const struct faultc_fault *in, struct faultc_decision *a, struct faultc_decision *b)\n' +
        '{\n\treturn faultc_decide_pol(in, a) + faultc_decide_POL(in, b);\n}\n',
    );
    execFileSync('cc', ['-Wall', '-Werror', '-I', dir, '-c', join(dir, 'both.c'), '-o', join(dir, 'both.o')], { stdio: 'pipe' });
  });

  test('hostile policy names are refused before any text exists', () => {
    for (const name of ['x(){}int y', 'a"b', 'a\n#include <x>', 'a b', '']) {
      const p = { ...sample(), name };
      expect(() => emitPolicy(program(p), p)).toThrow();
    }
  });

  test('strings: a C program prints back exactly the hostile text', () => {
    const hostile = ['plain', 'q"uote', 'back\\slash', 'new\nline', 'tri??/graph', 'nul\0byte', 'tab\tcr\r', 'utf8 é ✓', '*/ /*', '\\"; system("x"); "'];
    const lines = ['#include <stdio.h>', 'int main(void)', '{'];
    for (const s of hostile) lines.push(`\tfwrite(${cString(s)}, 1, sizeof(${cString(s)}) - 1, stdout);`, '\tputchar(0x1e);');
    lines.push('\treturn 0;', '}');
    writeFileSync(join(work, 'strings.c'), lines.join('\n') + '\n');
    execFileSync('cc', ['-Wall', '-Werror', '-trigraphs', '-o', join(work, 'strings'), join(work, 'strings.c')], { stdio: 'pipe' });
    const out = execFileSync(join(work, 'strings')).toString('utf8');
    expect(out.split('\x1e').slice(0, -1)).toEqual(hostile);
  });

  test('comments cannot be closed or spliced by text', () => {
    for (const s of ['*/ int x; /*', 'a\\', 'b\n#define X', '??/']) {
      const c = cComment(s);
      expect(c).not.toContain('*/');
      expect(c).not.toContain('\n');
      expect(c).not.toContain('\\');
      expect(c).not.toContain('??');
    }
  });

  test('a hostile .pfp file name reaches C only as an escaped #line string', () => {
    const p = sample('named');
    const file = '/x/we"ird\\name\n#error injected.pfp';
    const files = emitPolicy(program(p, file), p);
    const h = files.get('named.decide.h') ?? '';
    expect(h.split('\n').filter((l) => /^\s*#\s*error/.test(l))).toEqual([]);
    expect(h).toContain(cLine(1, 'we"ird\\name\n#error injected.pfp').split(' ').slice(2).join(' '));
    compileBoth(join(work, 'named'), 'named', files);
  });

  test('source paths never reach C: they live in the manifest only', () => {
    const p = sample('paths');
    const hostile = '/data/x"; } int evil(void) { return 1; } /* \\ \n #include </etc/passwd>';
    p.sources = p.sources.map((s) => ({ ...s, path: hostile, resolvedPath: hostile }));
    const files = emitPolicy(program(p), p);
    for (const [name, text] of files) {
      if (name.endsWith('.json')) {
        expect(JSON.parse(text).sources[0].path).toBe(hostile);
      } else {
        expect(text, name).not.toContain('evil');
        expect(text, name).not.toContain('/etc/passwd');
      }
    }
  });

  test('integers: unsigned hex within 64 bits, others refused', () => {
    expect(cU64(0n)).toBe('0x0ULL');
    expect(cU64((1n << 64n) - 1n)).toBe('0xffffffffffffffffULL');
    expect(() => cU64(1n << 64n)).toThrow(CEscapeError);
    expect(() => cU64(-1n)).toThrow(CEscapeError);
  });

  test('out-of-range numbers in IR are refused, not emitted', () => {
    const bad = policy('bad', [region(0, 'r', { onMissing: [S.fill(256)] })]);
    expect(() => emitPolicy(program(bad), bad)).toThrow(CEscapeError);
    const badSource = policy('bad2', [region(0, 'r', { onMissing: [S.copy(3, E.v('offset'))] })], ['only']);
    expect(() => emitPolicy(program(badSource), badSource)).toThrow(CEscapeError);
  });
});

describe('diagnostic codes', () => {
  test('build codes are PFP9xxx entries of the one table; internal ones among them', () => {
    const table = new Map(allCodes().map((c) => [c.name as string, c.code]));
    for (const name of ['ccFailed', 'noSuchPolicy', 'writeFailed', 'emitRefused']) {
      expect(table.get(name)).toMatch(/^PFP9\d{3}$/);
    }
    expect([...INTERNAL_CODES].sort()).toEqual(['PFP9001', 'PFP9003', 'PFP9004']);
    const codes = allCodes().map((c) => c.code);
    expect(new Set(codes).size).toBe(codes.length);
  });
});

describe('manifest', () => {
  test('renders and parses back to the same IR, bigints revived', () => {
    const p = sample();
    const text = renderManifest(program(p), p, { decideH: 'x', abiH: emitAbiH() });
    const r = parseManifest(text, '/out/sample.policy.json');
    if (!r.ok) throw new Error(r.error.message);
    expect(r.value.ir).toEqual(p);
    expect(r.value.regions[1]).toEqual({ id: 'guard', index: 1, size: 4096n, at: 0x7e0000000000n });
    expect(r.value.dir).toBe('/out');
    expect(r.value.artifacts.decideH).toBe('sample.decide.h');
    expect(r.value.artifacts.traceBpfO).toBeNull();
    const json = JSON.parse(text) as { regions: { size: unknown }[] };
    expect(json.regions[0]?.size).toBe('1048576');
  });

  test('wrong version, wrong ABI, bad shape and bad JSON are distinct error codes', () => {
    const p = sample();
    const good = JSON.parse(renderManifest(program(p), p, {})) as Record<string, unknown>;
    const cases: [unknown, string][] = [
      [{ ...good, manifestVersion: 2 }, 'FAULTC_MANIFEST_VERSION'],
      [{ ...good, abiVersion: 9 }, 'FAULTC_MANIFEST_ABI'],
      [{ ...good, layouts: { faultc_fault: { size: 1 } } }, 'FAULTC_MANIFEST_ABI'],
      [{ ...good, regions: [{ id: 'heap', index: 0, size: '-1' }] }, 'FAULTC_MANIFEST_SHAPE'],
      [{ ...good, policy: 'a"b' }, 'FAULTC_MANIFEST_SHAPE'],
      [{ ...good, artifacts: { ...(good.artifacts as object), decideSo: '../../etc/passwd' } }, 'FAULTC_MANIFEST_SHAPE'],
      [{ ...good, ir: { ...(good.ir as object), regions: 'x' } }, 'FAULTC_MANIFEST_SHAPE'],
    ];
    for (const [value, code] of cases) {
      const r = parseManifest(JSON.stringify(value), '/m.json');
      expect(r.ok ? 'ok' : r.error.code).toBe(code);
    }
    const r = parseManifest('{nope', '/m.json');
    expect(r.ok ? 'ok' : r.error.code).toBe('FAULTC_MANIFEST_JSON');
  });
});

describe('build', () => {
  test('compiles hand-built IR: all artifacts, manifest with matching hashes', async () => {
    const out = join(work, 'build-ok');
    const p = sample('built');
    const r = await compileProgram(program(p, join(work, 'built.pfp')), { outDir: out });
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
    expect(readdirSync(out).sort()).toEqual([
      'built.abi.h',
      'built.decide.h',
      'built.decide.so',
      'built.fault.bpf.c',
      'built.fault.bpf.o',
      'built.policy.json',
      'built.trace.bpf.c',
      'built.trace.bpf.o',
    ]);
    const m = await readManifestResult(join(out, 'built.policy.json'));
    if (!m.ok) throw new Error(m.error.message);
    expect(m.value.artifacts.decideSo).toBe('built.decide.so');
    // A changed artifact no longer matches its manifest.
    writeFileSync(join(out, 'built.decide.h'), readFileSync(join(out, 'built.decide.h'), 'utf8') + '\n');
    const stale = await readManifestResult(join(out, 'built.policy.json'));
    expect(stale.ok ? 'ok' : stale.error.code).toBe('FAULTC_MANIFEST_HASH');
  });

  test('--emit subsets keep only what was asked; the manifest lists only those', async () => {
    const out = join(work, 'build-json');
    const p = sample('part');
    const r = await compileProgram(program(p, join(work, 'part.pfp')), { outDir: out, emit: ['obj', 'json'] });
    expect(r.ok).toBe(true);
    expect(readdirSync(out).sort()).toEqual(['part.decide.so', 'part.fault.bpf.o', 'part.policy.json', 'part.trace.bpf.o']);
    const m = await readManifestResult(join(out, 'part.policy.json'));
    if (!m.ok) throw new Error(m.error.message);
    expect(m.value.artifacts.decideH).toBeNull();
  });

  test('a refused policy writes nothing and creates no folder', async () => {
    const out = join(work, 'never', 'made');
    const p = { ...sample(), name: 'bad name' };
    const r = await compileProgram(program(p), { outDir: out });
    expect(r.ok).toBe(false);
    expect(r.diagnostics.map((d) => d.code)).toEqual(['PFP9004']);
    expect(existsSync(join(work, 'never'))).toBe(false);
  });

  test('an unknown --policy is an error and writes nothing', async () => {
    const out = join(work, 'nopolicy');
    const p = sample();
    const r = await compileProgram(program(p), { outDir: out, policy: 'other' });
    expect(r.ok ? [] : r.diagnostics.map((d) => d.code)).toEqual(['PFP9002']);
    expect(existsSync(out)).toBe(false);
  });

  test('a C compiler failure leaves an existing output folder exactly as it was', async () => {
    const out = join(work, 'build-fail');
    mkdirSync(out);
    writeFileSync(join(out, 'keep.txt'), 'mine');
    const saved = process.env.FAULTC_CLANG;
    process.env.FAULTC_CLANG = 'false';
    try {
      const p = sample('broken');
      const r = await compileProgram(program(p, join(work, 'broken.pfp')), { outDir: out });
      expect(r.ok ? [] : r.diagnostics.map((d) => d.code)).toEqual(['PFP9001', 'PFP9001']);
    } finally {
      if (saved === undefined) delete process.env.FAULTC_CLANG;
      else process.env.FAULTC_CLANG = saved;
    }
    expect(readdirSync(out)).toEqual(['keep.txt']);
  });
});
