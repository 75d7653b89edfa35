// The lexer and parser on their own: the examples, precedence, literals,
// separators, spans, keywords and recovery.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ExprAst, StmtAst } from '../../grammar/ast.js';
import { parse } from '../../grammar/index.js';
import { PfpParser } from '../../grammar/parser.js';
import { KEYWORDS, makeLexer } from '../../grammar/tokens.js';

const examplesDir = join(import.meta.dirname, '..', '..', 'examples');
const examples = readdirSync(examplesDir).filter((f) => f.endsWith('.pfp'));

/** The expression of `fill <expr>` as an s-expression. */
function show(e: ExprAst): string {
  switch (e.kind) {
    case 'int':
      return e.literal.value.toString() + (e.unit ? e.unit.name : '');
    case 'var':
      return e.name;
    case 'name':
      return e.name.name;
    case 'member':
      return `${e.object.name}.${e.property.name}`;
    case 'not':
      return `(not ${show(e.operand)})`;
    case 'binary':
      return `(${e.op} ${show(e.left)} ${show(e.right)})`;
    case 'error':
      return '<error>';
  }
}

function body(text: string): { stmts: StmtAst[]; codes: string[] } {
  const r = parse(`policy p { region r size 1 page { on missing { ${text} } } }`, 't.pfp');
  return { stmts: r.ast.policies[0]?.regions[0]?.handlers[0]?.body ?? [], codes: r.diagnostics.map((d) => d.code) };
}

function expr(text: string): string {
  const { stmts, codes } = body(`fill ${text}`);
  expect(codes).toEqual([]);
  const s = stmts[0];
  if (s?.kind !== 'fill') throw new Error('no fill statement');
  return show(s.value);
}

describe('grammar definition', () => {
  it('passes chevrotain’s own grammar and token validations', () => {
    expect(() => new PfpParser(true)).not.toThrow();
    expect(() => makeLexer(true)).not.toThrow();
  });
});

describe('examples', () => {
  it('there are at least four', () => {
    expect(examples.length).toBeGreaterThanOrEqual(4);
  });
  for (const f of examples) {
    it(`${f} parses without diagnostics`, () => {
      const r = parse(readFileSync(join(examplesDir, f), 'utf8'), f);
      expect(r.diagnostics).toEqual([]);
      expect(r.ast.policies.length).toBeGreaterThan(0);
      for (const p of r.ast.policies) expect(p.regions.length).toBeGreaterThan(0);
    });
  }

  it('tiered.pfp has the shape written', () => {
    const r = parse(readFileSync(join(examplesDir, 'tiered.pfp'), 'utf8'), 'tiered.pfp');
    const p = r.ast.policies[0]!;
    expect(p.name.name).toBe('tiered');
    expect(p.sources.map((s) => [s.name.name, s.kind.name, s.path.value])).toEqual([['image', 'file', 'heap.img']]);
    const heap = p.regions[0]!;
    expect(show(heap.size!)).toBe('8MiB');
    expect(heap.handlers.map((h) => h.name.name)).toEqual(['missing', 'write']);
    const top = heap.handlers[0]!.body[0]!;
    expect(top.kind).toBe('if');
    if (top.kind !== 'if') return;
    expect(show(top.cond)).toBe('(and (< offset 1MiB) (< offset image.size))');
    const elseIf = top.else?.[0];
    expect(elseIf?.kind).toBe('if');
    if (elseIf?.kind !== 'if') return;
    expect(show(elseIf.cond)).toBe('write');
    expect(elseIf.then.map((s) => s.kind)).toEqual(['zero', 'notify']);
    expect(elseIf.else?.map((s) => s.kind)).toEqual(['zero']);
    expect(heap.handlers[1]!.body.map((s) => s.kind)).toEqual(['trackDirty']);
  });
});

describe('precedence (loosest first: or, and, not, comparisons, |, &, shifts, + -, * / %)', () => {
  const cases: [string, string][] = [
    ['1 + 2 * 3', '(+ 1 (* 2 3))'],
    ['1 * 2 + 3', '(+ (* 1 2) 3)'],
    ['1 - 2 - 3', '(- (- 1 2) 3)'],
    ['8 / 4 / 2', '(/ (/ 8 4) 2)'],
    ['7 % 4 * 2', '(* (% 7 4) 2)'],
    ['1 << 2 + 3', '(<< 1 (+ 2 3))'],
    ['1 + 2 >> 1', '(>> (+ 1 2) 1)'],
    ['offset & 0xfff == 0', '(== (& offset 4095) 0)'],
    ['1 | 2 & 3', '(| 1 (& 2 3))'],
    ['1 & 2 << 3', '(& 1 (<< 2 3))'],
    ['1 | 2 < 3', '(< (| 1 2) 3)'],
    ['offset < 1 and page > 2 or write', '(or (and (< offset 1) (> page 2)) write)'],
    ['read or write and 0', '(or read (and write 0))'],
    ['not offset < 4 KiB and write', '(and (not (< offset 4KiB)) write)'],
    ['not not read', '(not (not read))'],
    ['a.size == not b.size', '(== a.size (not b.size))'],
    ['(1 + 2) * 3', '(* (+ 1 2) 3)'],
    ['((offset))', 'offset'],
    ['address >= 0x7f00_0000_0000', '(>= address 139637976727552)'],
    ['offset != 1 page', '(!= offset 1page)'],
    ['offset <= 2 pages', '(<= offset 2pages)'],
  ];
  for (const [text, tree] of cases) {
    it(text, () => expect(expr(text)).toBe(tree));
  }

  it('spans of a binary expression cover both operands and brackets', () => {
    const r = parse('policy p { region r size 1 page { on missing { fill (1 + 2) * 3 } } }', 't.pfp');
    const s = r.ast.policies[0]!.regions[0]!.handlers[0]!.body[0]!;
    if (s.kind !== 'fill' || s.value.kind !== 'binary') throw new Error('shape');
    const text = 'policy p { region r size 1 page { on missing { fill (1 + 2) * 3 } } }';
    expect(text.slice(s.value.span.startOffset, s.value.span.endOffset)).toBe('(1 + 2) * 3');
    expect(text.slice(s.value.left.span.startOffset, s.value.left.span.endOffset)).toBe('(1 + 2)');
    expect(text.slice(s.value.opSpan.startOffset, s.value.opSpan.endOffset)).toBe('*');
  });
});

describe('literals', () => {
  it('reads decimal, hex and `_` between digits', () => {
    expect(expr('1_000')).toBe('1000');
    expect(expr('0x7f00_0000_0000')).toBe('139637976727552');
    expect(expr('0xA5')).toBe('165');
    expect(expr('18446744073709551615')).toBe('18446744073709551615');
  });

  it('reads every unit, with or without a space', () => {
    for (const u of ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'page', 'pages']) {
      expect(expr(`3 ${u}`)).toBe(`3${u}`);
      expect(expr(`3${u}`)).toBe(`3${u}`);
    }
  });

  it('decodes the three string escapes', () => {
    const r = parse('policy p { source s = file "a\\"b\\\\c\\nd" region r size 1 page {} }', 't.pfp');
    expect(r.diagnostics).toEqual([]);
    expect(r.ast.policies[0]!.sources[0]!.path.value).toBe('a"b\\c\nd');
  });

  it('reports each bad escape and keeps going', () => {
    const r = parse('policy p { source s = file "\\t\\0\\x" region r size 1 page {} }', 't.pfp');
    expect(r.diagnostics.map((d) => [d.code, d.span.startColumn])).toEqual([
      ['PFP1003', 29],
      ['PFP1003', 31],
      ['PFP1003', 33],
    ]);
  });
});

describe('separators and layout', () => {
  it('statements on one line, with `;`, or on separate lines are the same', () => {
    const kinds = (t: string): string[] => body(t).stmts.map((s) => s.kind);
    expect(kinds('zero notify')).toEqual(['zero', 'notify']);
    expect(kinds('zero; notify;')).toEqual(['zero', 'notify']);
    expect(kinds('\n  zero\n  notify\n')).toEqual(['zero', 'notify']);
    expect(kinds(';;zero;;;notify')).toEqual(['zero', 'notify']);
  });

  it('an expression may continue on the next line', () => {
    expect(expr('offset\n  - 64 KiB')).toBe('(- offset 64KiB)');
  });

  it('comments run to the end of the line, anywhere', () => {
    const r = parse('# a\npolicy p { # b\n region r size 1 page { # c\n on missing { zero } # d\n } }# e', 't.pfp');
    expect(r.diagnostics).toEqual([]);
    expect(r.ast.policies[0]!.regions[0]!.handlers[0]!.body.map((s) => s.kind)).toEqual(['zero']);
  });

  it('holds several policies in one file', () => {
    const r = parse('policy a { region r size 1 page {} }\npolicy b { region r size 1 page {} }', 't.pfp');
    expect(r.ast.policies.map((p) => p.name.name)).toEqual(['a', 'b']);
  });

  it('prefetch takes `page` or `pages` and an optional direction', () => {
    const pre = (t: string) => {
      const s = body(`zero ${t}`).stmts[1];
      if (s?.kind !== 'prefetch') throw new Error('no prefetch');
      return [Number(s.count.value), s.direction?.name];
    };
    expect(pre('prefetch 1 page')).toEqual([1, undefined]);
    expect(pre('prefetch 15 pages ahead')).toEqual([15, 'ahead']);
    expect(pre('prefetch 2 pages behind')).toEqual([2, 'behind']);
    expect(pre('prefetch 31 pages around')).toEqual([31, 'around']);
  });

  it('long `else if` chains stay flat in the parser', () => {
    const chain = Array.from({ length: 200 }, (_, i) => `if offset == ${i} { zero } else `).join('') + '{ sigbus }';
    const { stmts, codes } = body(chain);
    expect(codes).toEqual([]);
    let depth = 0;
    let s: StmtAst | undefined = stmts[0];
    while (s?.kind === 'if') {
      depth++;
      s = s.else?.[0];
    }
    expect(depth).toBe(200);
    expect(s?.kind).toBe('sigbus');
  });
});

describe('spans', () => {
  it('lines and columns are 1-based, ends exclusive', () => {
    const text = 'policy p {\n  region heap size 1 page {\n    on missing { zero }\n  }\n}\n';
    const r = parse(text, 't.pfp');
    const region = r.ast.policies[0]!.regions[0]!;
    expect([region.name.span.startLine, region.name.span.startColumn, region.name.span.endColumn]).toEqual([2, 10, 14]);
    const zero = region.handlers[0]!.body[0]!;
    expect([zero.span.startLine, zero.span.startColumn, zero.span.endLine, zero.span.endColumn]).toEqual([3, 18, 3, 22]);
    expect(text.slice(zero.span.startOffset, zero.span.endOffset)).toBe('zero');
    expect([region.span.startLine, region.span.endLine]).toEqual([2, 4]);
  });

  it('counts columns the same with CRLF line ends', () => {
    const text = 'policy p {\r\n  region heap size 1 page {\r\n    on missing { zero }\r\n  }\r\n}\r\n';
    const zero = parse(text, 't.pfp').ast.policies[0]!.regions[0]!.handlers[0]!.body[0]!;
    expect([zero.span.startLine, zero.span.startColumn]).toEqual([3, 18]);
  });
});

describe('keywords are reserved', () => {
  const words = KEYWORDS.map((k) => String(k.PATTERN).replace(/^\/|\/$/g, ''));
  it('covers the words of the language', () => {
    for (const w of ['policy', 'region', 'on', 'missing', 'write', 'read', 'zero', 'fill', 'copy', 'sigbus', 'defer', 'prefetch', 'notify', 'track', 'dirty', 'offset', 'page', 'address', 'and', 'or', 'not', 'KiB']) {
      expect(words).toContain(w);
    }
  });
  for (const w of ['zero', 'offset', 'page', 'region', 'KiB', 'dirty', 'not']) {
    it(`\`${w}\` cannot name a region (PFP2002)`, () => {
      const r = parse(`policy p { region ${w} size 1 page {} }`, 't.pfp');
      expect(r.diagnostics[0]?.code).toBe('PFP2002');
      expect(r.diagnostics[0]?.span.startColumn).toBe(19);
    });
  }
  it('a keyword prefix is an ordinary name', () => {
    const r = parse('policy p { region zeroes size 1 page {} region pages_2 size 1 page {} region B2 size 1 page {} }', 't.pfp');
    expect(r.diagnostics).toEqual([]);
    expect(r.ast.policies[0]!.regions.map((x) => x.name.name)).toEqual(['zeroes', 'pages_2', 'B2']);
  });
});

describe('recovery', () => {
  it('reports errors in separate regions in one run', () => {
    const text = [
      'policy p {',
      '  region a size 1 page { on missing { zeroo } }',
      '  region b size 1 page { on missing { fill } }',
      '  region c size 1 page { on missing { copy } }',
      '  region d size 1 page { on missing { zero } }',
      '}',
    ].join('\n');
    const r = parse(text, 't.pfp');
    const lines = new Set(r.diagnostics.map((d) => d.span.startLine));
    expect([...lines]).toEqual(expect.arrayContaining([2, 3, 4]));
    expect(r.ast.policies[0]!.regions.map((x) => x.name.name)).toContain('d');
  });

  it('one missing quote is one error', () => {
    const r = parse('policy p {\n  source s = file "abc\n  region r size 1 page { on missing { copy s } }\n}', 't.pfp');
    expect(r.diagnostics.filter((d) => d.code === 'PFP1002')).toHaveLength(1);
  });

  it('characters outside the language are errors, not crashes', () => {
    const r = parse('policy p { région r size 1 page {} }', 't.pfp');
    const d = r.diagnostics.find((x) => x.code === 'PFP1001');
    expect(d?.span.startColumn).toBe(13);
    expect(d?.message).toContain('U+00E9');
  });
});
