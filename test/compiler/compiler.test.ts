// The checker end to end: the examples give the IR they should, constants
// fold, names resolve, files are read as bytes, and the same input always
// gives the same IR.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkFile, checkSource, type Expr, type PolicyIR, type ProgramIR, type Stmt } from '../../compiler/index.js';
import { resolveSourcePath } from '../../compiler/paths.js';
import { parse } from '../../grammar/index.js';

const examplesDir = join(import.meta.dirname, '..', '..', 'examples');
const specExamplesDir = join(import.meta.dirname, '..', '..', '..', 'shared', 'spec', 'examples');
const tmp = mkdtempSync(join(tmpdir(), 'faultc-compiler-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function ok(text: string, file = '/p/x.pfp'): ProgramIR {
  const r = checkSource(text, file);
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics.map((d) => [d.code, d.span.startLine, d.span.startColumn, d.message])));
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r.value;
}

function policyOf(text: string): PolicyIR {
  return ok(text).policies[0]!;
}

function missingBody(body: string, extra = ''): Stmt[] {
  return policyOf(`policy p {\n  source img = file "img.bin"\n${extra}  region r size 16 pages {\n    on missing { copy img ${body} }\n  }\n}\n`).regions.at(-1)!.onMissing!;
}

function show(e: Expr): string {
  switch (e.kind) {
    case 'const':
      return e.value.toString();
    case 'var':
      return e.name;
    case 'sourceSize':
      return `source${e.source}.size`;
    case 'not':
      return `(not ${show(e.operand)})`;
    case 'binary':
      return `(${e.op} ${show(e.left)} ${show(e.right)})`;
    case 'inSet':
      return `(in ${show(e.page)} set${e.set})`;
  }
}

describe('the examples', () => {
  const dirs = [examplesDir, ...(existsSync(specExamplesDir) ? [specExamplesDir] : [])];
  for (const dir of dirs) {
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.pfp'))) {
      it(`${dir === examplesDir ? 'examples' : 'spec'}/${f} checks clean`, async () => {
        const r = await checkFile(join(dir, f));
        expect(r.diagnostics).toEqual([]);
        expect(r.ok).toBe(true);
      });
    }
  }

  it('debug-guard.pfp: two regions, fill 0xA5 and notify+sigbus', async () => {
    const r = await checkFile(join(examplesDir, 'debug-guard.pfp'));
    if (!r.ok) throw new Error('not ok');
    const p = r.value.policies[0]!;
    expect(p.name).toBe('debug_guard');
    expect(p.regions.map((x) => [x.id, x.index, x.size, x.at])).toEqual([
      ['arena', 0, 16n << 20n, undefined],
      ['guard', 1, 4096n, undefined],
    ]);
    expect(p.regions[0]!.onMissing).toMatchObject([{ kind: 'fill', byte: 0xa5 }]);
    expect(p.regions[1]!.onMissing!.map((s) => s.kind)).toEqual(['notify', 'sigbus']);
    expect(p.regions[0]!.onWrite).toBeUndefined();
    expect(p.engines).toEqual(['kernel', 'uffd', 'trace']);
  });

  it('postcopy.pfp: fixed address, folded 64 KiB, copy offset expression, prefetch around', async () => {
    const r = await checkFile(join(examplesDir, 'postcopy.pfp'));
    if (!r.ok) throw new Error('not ok');
    const p = r.value.policies[0]!;
    const guest = p.regions[0]!;
    expect(guest.size).toBe(256n << 20n);
    expect(guest.at).toBe(0x7e00_0000_0000n);
    const top = guest.onMissing![0]!;
    if (top.kind !== 'if') throw new Error('shape');
    expect(show(top.cond)).toBe('(< offset 65536)');
    expect(top.then.map((s) => s.kind)).toEqual(['sigbus']);
    const [copy, prefetch] = top.else;
    if (copy?.kind !== 'copy' || prefetch?.kind !== 'prefetch') throw new Error('shape');
    expect(copy.source).toBe(0);
    expect(show(copy.at)).toBe('(- offset 65536)');
    expect([prefetch.pages, prefetch.direction]).toEqual([31, 'around']);
  });

  it('snapshot-restore.pfp and tiered.pfp resolve the source next to the .pfp', async () => {
    for (const f of ['snapshot-restore.pfp', 'tiered.pfp']) {
      const r = await checkFile(join(examplesDir, f));
      if (!r.ok) throw new Error('not ok');
      const s = r.value.policies[0]!.sources[0]!;
      expect([s.id, s.index, s.path, s.resolvedPath]).toEqual(['image', 0, 'heap.img', join(examplesDir, 'heap.img')]);
      expect(r.value.file).toBe(join(examplesDir, f));
    }
  });

  it('tiered.pfp: `image.size` stays a load-time value, `on write` tracks dirty pages', async () => {
    const r = await checkFile(join(examplesDir, 'tiered.pfp'));
    if (!r.ok) throw new Error('not ok');
    const heap = r.value.policies[0]!.regions[0]!;
    const top = heap.onMissing![0]!;
    if (top.kind !== 'if') throw new Error('shape');
    expect(show(top.cond)).toBe('(and (< offset 1048576) (< offset source0.size))');
    expect(heap.onWrite).toMatchObject([{ kind: 'trackDirty' }]);
  });
});

describe('checkFile', () => {
  it('hashes the file bytes and reports the absolute path', async () => {
    const file = join(tmp, 'hash.pfp');
    const text = 'policy p { region r size 1 page { on missing { zero } } }\n';
    writeFileSync(file, text);
    const r = await checkFile(file);
    if (!r.ok) throw new Error('not ok');
    expect(r.value.sourceHash).toBe(createHash('sha256').update(text).digest('hex'));
    expect(r.value.file).toBe(file);
  });

  it('a missing file is PFP1010, not an exception', async () => {
    const r = await checkFile(join(tmp, 'absent.pfp'));
    expect(r.ok).toBe(false);
    expect(r.diagnostics.map((d) => d.code)).toEqual(['PFP1010']);
    expect(r.diagnostics[0]!.message).toBe('cannot read the file: no such file or folder');
  });

  it('bytes that are not UTF-8 are PFP1009', async () => {
    const file = join(tmp, 'latin1.pfp');
    writeFileSync(file, Buffer.from([0x70, 0x6f, 0x6c, 0xe9, 0xff, 0x0a]));
    const r = await checkFile(file);
    expect(r.diagnostics.map((d) => d.code)).toEqual(['PFP1009']);
  });

  it('a file over 1 MiB is PFP1008 without being parsed', async () => {
    const file = join(tmp, 'big.pfp');
    writeFileSync(file, '#'.repeat(1024 * 1024 + 1));
    const r = await checkFile(file);
    expect(r.diagnostics.map((d) => d.code)).toEqual(['PFP1008']);
  });

  it('checkSource and checkFile agree', async () => {
    const file = join(examplesDir, 'tiered.pfp');
    const a = await checkFile(file);
    const b = checkSource(readFileSync(file, 'utf8'), file);
    expect(a).toEqual(b);
  });
});

describe('constant folding', () => {
  it('folds constant subtrees with wrapping 64-bit arithmetic', () => {
    const s = missingBody('if offset < 2 pages * 2 + 1 KiB - 1 KiB { notify }');
    const top = s[1];
    if (top?.kind !== 'if') throw new Error('shape');
    expect(show(top.cond)).toBe('(< offset 16384)');
  });

  it('keeps run-time parts and folds the constant ones beside them', () => {
    const s = missingBody('if offset + (1 + 2) * 4096 > 0 { notify }');
    if (s[1]?.kind !== 'if') throw new Error('shape');
    expect(show(s[1].cond)).toBe('(> (+ offset 12288) 0)');
  });

  it('does not drop a side of `and`/`or` even when the other is constant', () => {
    const s = missingBody('if 0 and 4096 / offset { notify }');
    if (s[1]?.kind !== 'if') throw new Error('shape');
    expect(show(s[1].cond)).toBe('(and 0 (/ 4096 offset))');
  });

  it('folds comparisons, logic, not and shifts to 0/1 and wrapped values', () => {
    const cond = (t: string): string => {
      const r = checkSource(`policy p { region r size 1 page { on missing { if ${t} { zero } else { zero } } } }`, 'x.pfp');
      if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
      const s = r.value.policies[0]!.regions[0]!.onMissing![0]!;
      if (s.kind !== 'if') throw new Error('shape');
      return show(s.cond);
    };
    expect(cond('3 < 4 and not 0')).toBe('1');
    expect(cond('0 - 1')).toBe('18446744073709551615');
    expect(cond('1 << 64')).toBe('0');
    expect(cond('1 << 63 >> 63')).toBe('1');
    expect(cond('7 % 4 == 3 or 0')).toBe('1');
    expect(cond('0xff & 0x0f | 0x100')).toBe('271');
  });

  it('`<region>.size` is a constant, usable by later regions', () => {
    const p = policyOf('policy p {\n  region a size 4 pages { }\n  region b size a.size * 2 { on missing { if offset < a.size { zero } else { sigbus } } }\n}');
    expect(p.regions[1]!.size).toBe(8n * 4096n);
    const s = p.regions[1]!.onMissing![0]!;
    if (s.kind !== 'if') throw new Error('shape');
    expect(show(s.cond)).toBe('(< offset 16384)');
  });

  it('fill accepts a constant expression', () => {
    const p = policyOf('policy p { region r size 1 page { on missing { fill 0x100 - 1 } } }');
    expect(p.regions[0]!.onMissing).toMatchObject([{ kind: 'fill', byte: 255 }]);
  });
});

describe('defaults and shapes', () => {
  it('`copy s` copies at `offset`; prefetch defaults to ahead', () => {
    const s = missingBody('prefetch 1 page');
    expect(s[0]).toMatchObject({ kind: 'copy', source: 0, at: { kind: 'var', name: 'offset' } });
    expect(s[1]).toMatchObject({ kind: 'prefetch', pages: 1, direction: 'ahead' });
  });

  it('keeps several policies, each with its own indexes', () => {
    const prog = ok('policy a { region x size 1 page {} region y size 1 page {} }\npolicy b { source s = file "/abs/s" region z size 2 pages { on missing { copy s } } }');
    expect(prog.policies.map((p) => [p.name, p.regions.map((r) => [r.id, r.index])])).toEqual([
      ['a', [['x', 0], ['y', 1]]],
      ['b', [['z', 0]]],
    ]);
    expect(prog.policies[1]!.sources[0]!.resolvedPath).toBe('/abs/s');
  });

  it('a region without handlers is valid and has neither', () => {
    const r = policyOf('policy p { region r size 1 page {} }').regions[0]!;
    expect(r.onMissing).toBeUndefined();
    expect(r.onWrite).toBeUndefined();
  });

  it('allows sigbus and notify in `on write`, with if/else', () => {
    const r = policyOf('policy p { region r size 1 page { on write { if page == 0 { sigbus notify } else { track dirty } } } }').regions[0]!;
    expect(r.onWrite![0]).toMatchObject({ kind: 'if', then: [{ kind: 'sigbus' }, { kind: 'notify' }], else: [{ kind: 'trackDirty' }] });
  });

  it('accepts the same modifier once on each of two paths', () => {
    const s = missingBody('if write { notify prefetch 2 pages } else { notify prefetch 4 pages behind }');
    expect(s[1]?.kind).toBe('if');
  });

  it('eight sources are allowed', () => {
    const src = Array.from({ length: 8 }, (_, i) => `source s${i} = file "f${i}"`).join('\n');
    const use = Array.from({ length: 8 }, (_, i) => `if page == ${i} { copy s${i} } else `).join('') + '{ zero }';
    expect(policyOf(`policy p {\n${src}\nregion r size 8 pages { on missing { ${use} } } }`).sources).toHaveLength(8);
  });

  it('a region may end exactly at the top of user space', () => {
    const p = policyOf('policy p { region r size 1 page at 0x7fff_ffff_e000 { } }');
    expect(p.regions[0]!.at).toBe(0x7fff_ffff_e000n);
  });

  it('adjacent fixed regions do not overlap', () => {
    const p = policyOf('policy p { region a size 1 MiB at 0x7000_0000_0000 { } region b size 1 MiB at 0x7000_0010_0000 { } }');
    expect(p.regions).toHaveLength(2);
  });

  it('the same input gives the same IR', () => {
    const text = readFileSync(join(examplesDir, 'postcopy.pfp'), 'utf8');
    expect(checkSource(text, '/a/b.pfp')).toEqual(checkSource(text, '/a/b.pfp'));
  });
});

describe('source paths', () => {
  it('a NUL in a path is PFP5007 (reachable only through the AST: the lexer refuses NUL first)', () => {
    const ast = parse('policy p { source s = file "x" region r size 1 page {} }', '/p/x.pfp').ast;
    const src = ast.policies[0]!.sources[0]!;
    const out: { code: string }[] = [];
    expect(resolveSourcePath({ ...src, path: { ...src.path, value: 'a\0b' } }, '/p/x.pfp', out as never)).toBeUndefined();
    expect(out.map((d) => d.code)).toEqual(['PFP5007']);
  });

  it('relative paths resolve against the folder of the .pfp, absolute ones stay', () => {
    const p = ok('policy p { source a = file "d/img" source b = file "/abs/img" region r size 1 page { on missing { if page == 0 { copy a } else { copy b } } } }', '/srv/pol/x.pfp').policies[0]!;
    expect(p.sources.map((s) => s.resolvedPath)).toEqual(['/srv/pol/d/img', '/abs/img']);
  });
});
