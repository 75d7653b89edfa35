// Bad policies, one problem each: the expected code at the expected line and
// column. `‸` in a case marks where the diagnostic must start; it is removed
// before checking. Checked structurally, never by comparing printed text.
import { describe, expect, it } from 'vitest';
import { allCodes } from '../compiler/codes.js';
import type { Diagnostic } from '../compiler/diagnostic.js';
import { formatDiagnostic, formatDiagnostics, useColor } from '../compiler/format.js';
import { checkSource } from '../compiler/index.js';
import { MAX_DIAGNOSTICS, MAX_INPUT_BYTES, MAX_REGIONS } from '../compiler/limits.js';

const MARK = '‸';

interface Case {
  name: string;
  code: string;
  text: string;
}

/** Line and column (1-based) of the marker, and the text without it. */
function locate(marked: string): { text: string; line: number; column: number } {
  const at = marked.indexOf(MARK);
  if (at < 0 || marked.indexOf(MARK, at + 1) >= 0) throw new Error('a case needs exactly one marker');
  const text = marked.slice(0, at) + marked.slice(at + MARK.length);
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  const column = at - (before.lastIndexOf('\n') + 1) + 1;
  return { text, line, column };
}

/** A policy with one region whose `on missing` body is `body`. */
function missing(body: string, extra = ''): string {
  return `policy p {\n  source img = file "img.bin"\n${extra}  region r size 16 pages {\n    on missing { ${body} }\n  }\n}\n`;
}

const MANY_SOURCES = Array.from({ length: 9 }, (_, i) => `  source ${i === 8 ? MARK : ''}s${i} = file "s${i}"\n`).join('');
const MANY_SOURCES_USE = Array.from({ length: 8 }, (_, i) => `if offset == ${i} { copy s${i} } else `).join('') + '{ zero }';

const cases: Case[] = [
  // PFP1xxx: lexical
  { name: 'unexpected character', code: 'PFP1001', text: `policy p {\n  ${MARK}@\n}` },
  { name: 'unterminated string', code: 'PFP1002', text: `policy p {\n  source s = file ${MARK}"abc\n  region r size 1 page {}\n}` },
  { name: 'unknown escape', code: 'PFP1003', text: `policy p {\n  source s = file "a${MARK}\\tb"\n}` },
  { name: 'NUL inside a string', code: 'PFP1004', text: `policy p {\n  source s = file "a${MARK}\0b"\n}` },
  { name: 'doubled underscore in an integer', code: 'PFP1005', text: missing(`fill ${MARK}1__0`) },
  { name: 'hex without digits', code: 'PFP1005', text: missing(`fill ${MARK}0x`) },
  { name: 'hex with a non-hex letter', code: 'PFP1005', text: missing(`fill ${MARK}0xZZ`) },
  { name: 'trailing underscore', code: 'PFP1005', text: missing(`fill ${MARK}12_`) },
  { name: 'upper-case hex prefix', code: 'PFP1005', text: missing(`fill ${MARK}0XFF`) },
  { name: 'integer beyond 64 bits', code: 'PFP1006', text: missing(`fill ${MARK}0x1_0000_0000_0000_0000`) },
  { name: 'name too long', code: 'PFP1007', text: `policy ${MARK}${'a'.repeat(65)} {\n}` },
  // PFP2xxx: syntax
  { name: 'missing `size`', code: 'PFP2001', text: `policy p {\n  region r ${MARK}{ }\n}` },
  { name: 'keyword as a region name', code: 'PFP2002', text: `policy p {\n  region ${MARK}zero size 1 page { }\n}` },
  { name: 'keyword as a policy name', code: 'PFP2002', text: `policy ${MARK}offset { }` },
  { name: 'unexpected end of file', code: 'PFP2003', text: `policy p {\n  region r size 1 page {\n    on missing { zero }\n${MARK}` },
  { name: 'unknown statement', code: 'PFP2004', text: missing(`${MARK}bogus`) },
  { name: 'resolving word misspelt', code: 'PFP2004', text: missing(`${MARK}sigsegv`) },
  { name: 'missing condition', code: 'PFP2005', text: missing(`if ${MARK}{ zero }`) },
  { name: 'dangling operator', code: 'PFP2005', text: missing(`if offset < ${MARK}} zero }`).replace('} zero }', '{ zero }') },
  { name: 'top level is not a policy', code: 'PFP2006', text: `${MARK}region r size 1 page { }` },
  { name: 'handler directly in a policy', code: 'PFP2007', text: `policy p {\n  ${MARK}on missing { zero }\n}` },
  { name: 'brackets nested past the bound', code: 'PFP2008', text: missing(`fill ${'('.repeat(61)}${MARK}(1${')'.repeat(62)}`) }, // 3 braces + 62 brackets
  {
    name: 'expression deeper than the bound',
    code: 'PFP2009',
    text: missing(`fill 0 ${Array.from({ length: 300 }, (_, i) => (i === 256 ? MARK : '') + '+ 0').join(' ')}`),
  },
  { name: 'chained comparison', code: 'PFP2010', text: missing(`if 1 < offset ${MARK}< 5 { zero } else { zero }`) },
  { name: '`=` for comparison', code: 'PFP2001', text: missing(`if offset ${MARK}= 0 { zero } else { zero }`) },
  { name: 'prefetch without `pages`', code: 'PFP2001', text: missing(`zero prefetch 16 ${MARK}notify`) },
  { name: 'copy without a source', code: 'PFP2001', text: missing(`copy ${MARK}; zero`) },
  { name: 'track without `dirty`', code: 'PFP2001', text: `policy p {\n  region r size 1 page {\n    on write { track ${MARK}}\n  }\n}` },
  // PFP3xxx: names
  { name: 'duplicate policy', code: 'PFP3001', text: `policy p { region r size 1 page {} }\npolicy ${MARK}p { region r size 1 page {} }` },
  { name: 'region named like a source', code: 'PFP3002', text: missing('copy img', `  region ${MARK}img size 1 page {}\n`) },
  { name: 'two regions of one name', code: 'PFP3002', text: `policy p {\n  region r size 1 page {}\n  region ${MARK}r size 2 pages {}\n}` },
  { name: 'two `on missing`', code: 'PFP3003', text: `policy p {\n  region r size 1 page {\n    on missing { zero }\n    ${MARK}on missing { sigbus }\n  }\n}` },
  { name: 'unknown handler', code: 'PFP3004', text: `policy p {\n  region r size 1 page {\n    on ${MARK}read { zero }\n  }\n}` },
  { name: 'copy from an unknown source', code: 'PFP3005', text: missing(`copy ${MARK}nope`) },
  { name: 'copy from a region', code: 'PFP3006', text: missing(`copy ${MARK}r`) },
  { name: '.size of an unknown name', code: 'PFP3007', text: missing(`if offset < ${MARK}nope.size { copy img } else { zero }`) },
  { name: 'an undeclared bare name', code: 'PFP3007', text: missing(`if offset < ${MARK}limit { copy img } else { zero }`) },
  { name: 'unknown property', code: 'PFP3008', text: missing(`if offset < img.${MARK}length { copy img } else { zero }`) },
  { name: 'a source used as a value', code: 'PFP3009', text: missing(`if ${MARK}img { copy img } else { zero }`) },
  { name: 'unknown source kind', code: 'PFP3010', text: `policy p {\n  source s = ${MARK}memory "x"\n  region r size 1 page { on missing { copy s } }\n}` },
  { name: 'nine sources', code: 'PFP3011', text: `policy p {\n${MANY_SOURCES}  region r size 16 pages { on missing { ${MANY_SOURCES_USE} } }\n}` },
  { name: 'policy without regions', code: 'PFP3013', text: `policy ${MARK}empty {\n}` },
  { name: 'size of a region declared later', code: 'PFP3014', text: `policy p {\n  region a size ${MARK}b.size { }\n  region b size 1 page { }\n}` },
  { name: 'file without policies', code: 'PFP3015', text: `${MARK}# nothing here\n` },
  { name: 'source size as a region size', code: 'PFP3017', text: `policy p {\n  source s = file "x"\n  region a size ${MARK}s.size { on missing { copy s } }\n}` },
  // PFP4xxx: values and units
  { name: 'unknown unit', code: 'PFP4001', text: `policy p {\n  region r size 16 ${MARK}MB { }\n}` },
  { name: 'size beyond 64 bits', code: 'PFP4002', text: `policy p {\n  region r size ${MARK}20000000 TiB { }\n}` },
  { name: 'constant division by zero', code: 'PFP4003', text: missing(`fill 4 / ${MARK}0`) },
  { name: 'constant remainder by zero', code: 'PFP4003', text: missing(`if offset % ${MARK}(4 - 4) { zero } else { zero }`) },
  { name: 'fill byte 256', code: 'PFP4004', text: missing(`fill ${MARK}256`) },
  { name: 'fill byte from the fault', code: 'PFP4005', text: missing(`fill ${MARK}offset & 0xff`) },
  { name: 'region size from the fault', code: 'PFP4006', text: `policy p {\n  region r size ${MARK}offset { }\n}` },
  { name: 'region address from the fault', code: 'PFP4006', text: `policy p {\n  region r size 1 page at ${MARK}address { }\n}` },
  { name: 'region size zero', code: 'PFP4007', text: `policy p {\n  region r size ${MARK}0 pages { }\n}` },
  { name: 'region size not whole pages', code: 'PFP4008', text: `policy p {\n  region r size ${MARK}100 B { }\n}` },
  { name: 'address not page-aligned', code: 'PFP4009', text: `policy p {\n  region r size 1 page at ${MARK}0x7000_0000_0010 { }\n}` },
  { name: 'region past the user address space', code: 'PFP4010', text: `policy p {\n  region r size 1 MiB at ${MARK}0x7fff_fff0_0000 { }\n}` },
  { name: 'region larger than the address space', code: 'PFP4011', text: `policy p {\n  region r size ${MARK}200 TiB { }\n}` },
  { name: 'prefetch 0 pages', code: 'PFP4012', text: missing(`zero prefetch ${MARK}0 pages`) },
  { name: 'prefetch 513 pages', code: 'PFP4012', text: missing(`zero prefetch ${MARK}513 pages ahead`) },
  { name: 'constant unaligned copy offset', code: 'PFP4013', text: missing(`copy img at ${MARK}100`) },
  {
    name: 'overlapping fixed regions',
    code: 'PFP4017',
    text: `policy p {\n  region a size 1 MiB at 0x7000_0000_0000 { }\n  region ${MARK}b size 1 page at 0x7000_000f_f000 { }\n}`,
  },
  // PFP5xxx: paths
  { name: 'if without else leaves a path unresolved', code: 'PFP5001', text: missing(`if ${MARK}offset < 4 KiB { zero }`) },
  { name: 'empty on missing', code: 'PFP5001', text: `policy p {\n  region r size 1 page {\n    ${MARK}on missing { notify }\n  }\n}` },
  { name: 'branch without action', code: 'PFP5001', text: missing(`if ${MARK}write { notify } else { zero }`) },
  { name: 'two actions in a row', code: 'PFP5002', text: missing(`zero ${MARK}sigbus`) },
  { name: 'action after an if that resolves', code: 'PFP5002', text: missing(`if write { zero } else { sigbus }\n ${MARK}defer`) },
  { name: 'prefetch twice on one path', code: 'PFP5003', text: missing(`prefetch 2 pages if read { zero ${MARK}prefetch 4 pages } else { zero }`) },
  { name: 'notify twice', code: 'PFP5003', text: missing(`zero; notify; ${MARK}notify`) },
  { name: 'track dirty twice', code: 'PFP5003', text: `policy p {\n  region r size 1 page {\n    on write { track dirty ${MARK}track dirty }\n  }\n}` },
  { name: 'copy in on write', code: 'PFP5004', text: `policy p {\n  source s = file "x"\n  region r size 1 page {\n    on missing { copy s }\n    on write { ${MARK}copy s }\n  }\n}` },
  { name: 'prefetch in on write', code: 'PFP5004', text: `policy p {\n  region r size 1 page {\n    on write { ${MARK}prefetch 1 page }\n  }\n}` },
  { name: 'track dirty in on missing', code: 'PFP5005', text: missing(`zero ${MARK}track dirty`) },
  { name: 'empty source path', code: 'PFP5006', text: `policy p {\n  source s = file ${MARK}""\n  region r size 1 page { on missing { copy s } }\n}` },
];

function check(text: string): { ok: boolean; diagnostics: Diagnostic[] } {
  return checkSource(text, '/policies/case.pfp');
}

describe('bad policies: code, line and column', () => {
  it('has at least 45 distinct cases covering every family', () => {
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    expect(cases.length).toBeGreaterThanOrEqual(45);
    for (const family of ['PFP1', 'PFP2', 'PFP3', 'PFP4', 'PFP5']) {
      expect(cases.some((c) => c.code.startsWith(family))).toBe(true);
    }
  });

  for (const c of cases) {
    it(`${c.code} ${c.name}`, () => {
      const { text, line, column } = locate(c.text);
      const r = check(text);
      expect(r.ok).toBe(false);
      const hit = r.diagnostics.find((d) => d.code === c.code);
      expect(hit, `diagnostics: ${JSON.stringify(r.diagnostics.map((d) => [d.code, d.span.startLine, d.span.startColumn, d.message]))}`).toBeDefined();
      expect(hit!.severity).toBe('error');
      expect({ line: hit!.span.startLine, column: hit!.span.startColumn }).toEqual({ line, column });
      expect(hit!.span.file).toBe('/policies/case.pfp');
      expect(hit!.message.length).toBeGreaterThan(0);
    });
  }

  it('every code used here is in the table', () => {
    const table = new Set(allCodes().map((c) => c.code));
    for (const c of cases) expect(table.has(c.code)).toBe(true);
  });
});

describe('did you mean', () => {
  const hintOf = (text: string, code: string): string | undefined => check(text).diagnostics.find((d) => d.code === code)?.hint;
  it('a misspelt statement, handler, source, name, kind, declaration and policy keyword', () => {
    expect(hintOf(missing('sigbuss'), 'PFP2004')).toMatch(/^did you mean `sigbus`\?/);
    expect(hintOf(missing('zero notfy'), 'PFP2004')).toMatch(/^did you mean `notify`\?/);
    expect(hintOf('policy p { region r size 1 page { on misisng { zero } } }', 'PFP3004')).toMatch(/^did you mean `missing`\?/);
    expect(hintOf(missing('copy imag'), 'PFP3005')).toBe('did you mean `img`?');
    expect(hintOf(missing('if offset < imgg.size { copy img } else { zero }'), 'PFP3007')).toBe('did you mean `img`?');
    expect(hintOf('policy p { source s = flie "x" region r size 1 page { on missing { copy s } } }', 'PFP3010')).toMatch(/^did you mean `file`\?/);
    expect(hintOf('policy p { regoin r size 1 page { } }', 'PFP2007')).toBe('did you mean `region`?');
    expect(hintOf('polcy p { region r size 1 page { } }', 'PFP2006')).toMatch(/^did you mean `policy`\?/);
  });
  it('no suggestion when nothing is close', () => {
    expect(hintOf(missing('bogus'), 'PFP2004')).not.toMatch(/did you mean/);
    expect(hintOf(missing('copy zzzzzz'), 'PFP3005')).toBeUndefined();
  });
  it('a misspelt source name does not also call the real one unused', () => {
    expect(check(missing('copy imag')).diagnostics.map((d) => d.code)).toEqual(['PFP3005']);
  });
});

describe('hints for habits from other languages', () => {
  const hintOf = (text: string, code: string): string | undefined => check(text).diagnostics.find((d) => d.code === code)?.hint;
  it('`!` suggests `not`', () => {
    expect(hintOf(missing('if !write { zero } else { zero }'), 'PFP1001')).toContain('`not`');
  });
  it('`&&` suggests `and`', () => {
    expect(hintOf(missing('if read && write { zero } else { zero }'), 'PFP2005')).toContain('`and`');
  });
  it('a negative number explains that values are unsigned', () => {
    expect(hintOf(missing('fill -1'), 'PFP2005')).toContain('unsigned');
  });
  it('`=` suggests `==`', () => {
    expect(hintOf(missing('if offset = 0 { zero } else { zero }'), 'PFP2001')).toContain('`==`');
  });
});

describe('limits', () => {
  it('rejects input over the size bound before parsing (PFP1008 at 1:1)', () => {
    const r = check('#'.repeat(MAX_INPUT_BYTES + 1));
    expect(r.diagnostics.map((d) => [d.code, d.span.startLine, d.span.startColumn])).toEqual([['PFP1008', 1, 1]]);
  });

  it('stops after MAX_DIAGNOSTICS with PFP1011', () => {
    const text = 'policy p {\n' + '  @\n'.repeat(MAX_DIAGNOSTICS + 20) + '}';
    const r = check(text);
    expect(r.diagnostics).toHaveLength(MAX_DIAGNOSTICS + 1);
    const last = r.diagnostics[MAX_DIAGNOSTICS]!;
    expect(last.code).toBe('PFP1011');
    expect(last.span.startLine).toBe(MAX_DIAGNOSTICS + 2);
  });

  it(`accepts ${MAX_REGIONS} regions and rejects one more (PFP3016)`, () => {
    const regions = (n: number): string => Array.from({ length: n }, (_, i) => `  region r${i} size 1 page { }\n`).join('');
    expect(check(`policy p {\n${regions(MAX_REGIONS)}}`).ok).toBe(true);
    const r = check(`policy p {\n${regions(MAX_REGIONS + 1)}}`);
    const d = r.diagnostics.find((x) => x.code === 'PFP3016');
    expect(d?.span.startLine).toBe(MAX_REGIONS + 2);
    expect(d?.span.startColumn).toBe(10);
  });
});

describe('several errors in one run', () => {
  it('reports each syntax error of a file with three, in order', () => {
    const text = 'policy p {\n  region a size 1 page {\n    on missing { bogus }\n  }\n  region b size { }\n  region c size 1 page { on missing { fill } }\n}\n';
    const r = check(text);
    expect(r.ok).toBe(false);
    const lines = r.diagnostics.filter((d) => d.severity === 'error').map((d) => d.span.startLine);
    expect(lines).toEqual(expect.arrayContaining([3, 5, 6]));
    expect(lines).toEqual([...lines].sort((x, y) => x - y));
  });

  it('reports each semantic error of a file with several', () => {
    const text = missing('fill 300 copy nope', '  region q size 100 B { }\n');
    const codes = check(text).diagnostics.map((d) => d.code);
    expect(codes).toEqual(expect.arrayContaining(['PFP4008', 'PFP4004', 'PFP3005', 'PFP5002']));
  });
});

describe('warnings keep a policy valid', () => {
  const warn: [string, string, string][] = [
    ['PFP3012 unused source', 'PFP3012', missing('zero')],
    ['PFP4014 constant wraps', 'PFP4014', missing('if offset < 0 - 1 { zero } else { zero }')],
    ['PFP4015 shift of 64', 'PFP4015', missing('copy img if offset >> 64 { notify }')],
    ['PFP4016 below 64 KiB', 'PFP4016', `policy p {\n  region r size 1 page at 0x1000 { }\n}`],
    ['PFP4018 page compared with bytes', 'PFP4018', missing('if page < 4 KiB { copy img } else { zero }')],
    ['PFP5008 constant condition', 'PFP5008', missing('if 1 { copy img } else { zero }')],
    ['PFP5009 prefetch with sigbus', 'PFP5009', missing('if read { copy img } else { sigbus } prefetch 2 pages')],
  ];
  for (const [name, code, text] of warn) {
    it(name, () => {
      const r = check(text);
      expect(r.ok, JSON.stringify(r.diagnostics)).toBe(true);
      const d = r.diagnostics.find((x) => x.code === code);
      expect(d?.severity).toBe('warning');
    });
  }

  it('engine warnings appear only when an engine is named (PFP6001, PFP6002, PFP6003)', () => {
    const text = missing('if write { defer } else { copy img }');
    expect(checkSource(text, 'x.pfp').diagnostics).toEqual([]);
    expect(checkSource(text, 'x.pfp', { engine: 'kernel' }).diagnostics).toEqual([]);
    expect(checkSource(text, 'x.pfp', { engine: 'uffd' }).diagnostics.map((d) => d.code)).toEqual(['PFP6001']);
    const t = checkSource(text, 'x.pfp', { engine: 'trace' });
    expect(t.ok).toBe(true);
    expect(t.diagnostics.map((d) => d.code).sort()).toEqual(['PFP6002', 'PFP6003']);
  });
});

describe('formatting', () => {
  const text = 'policy p {\n  region r size 100 B { }\n}\n';
  const d = check(text).diagnostics[0]!;

  it('names file:line:col, shows the line and underlines the span', () => {
    const out = formatDiagnostic(d, text, { color: false, cwd: '/elsewhere' });
    const lines = out.split('\n');
    expect(lines[0]).toBe('/policies/case.pfp:2:17: error PFP4008: ' + d.message);
    expect(lines[1]).toBe('2 |   region r size 100 B { }');
    const caret = lines[2]!.indexOf('^');
    expect(caret - lines[1]!.indexOf('  region')).toBe(16);
    expect(lines[2]!.slice(caret)).toBe('^~~~~');
    expect(lines[3]).toMatch(/^hint: /);
  });

  it('a span over several lines underlines the rest of its first line and says it goes on', () => {
    const t = 'policy p {\n  region r size 1 page {\n    on missing { notify }\n  }\n}\n';
    const d5001 = check(t).diagnostics.find((x) => x.code === 'PFP5001')!;
    const wide = { ...d5001, span: { ...d5001.span, endLine: 4, endColumn: 4 } };
    const lines = formatDiagnostic(wide, t, { color: false }).split('\n');
    expect(lines[1]).toBe('3 |     on missing { notify }');
    expect(lines[2]).toBe('  |     ' + '^' + '~'.repeat('on missing { notify }'.length - 1) + ' ...');
  });

  it('an error at the end of the file gets one caret after the last character', () => {
    const t = 'policy p {';
    const d = check(t).diagnostics[0]!;
    expect(d.code).toBe('PFP2003');
    const lines = formatDiagnostic(d, t, { color: false }).split('\n');
    expect(lines[0]).toMatch(/case\.pfp:1:11: error PFP2003/);
    expect(lines[2]).toBe('  |           ^');
  });

  it('prints colour only when asked', () => {
    expect(formatDiagnostic(d, text, { color: false })).not.toContain('\x1b[');
    expect(formatDiagnostic(d, text, { color: true })).toContain('\x1b[');
  });

  it('honours NO_COLOR and non-TTY streams', () => {
    const saved = process.env['NO_COLOR'];
    try {
      process.env['NO_COLOR'] = '1';
      expect(useColor({ isTTY: true })).toBe(false);
      delete process.env['NO_COLOR'];
      expect(useColor({ isTTY: true })).toBe(true);
      expect(useColor({ isTTY: false })).toBe(false);
    } finally {
      if (saved === undefined) delete process.env['NO_COLOR'];
      else process.env['NO_COLOR'] = saved;
    }
  });

  it('never prints control characters from the source', () => {
    const bad = 'policy p {\n  \x1b[31m\n}';
    const r = check(bad);
    const out = formatDiagnostics(r.diagnostics, bad, { color: false });
    expect(out).not.toContain('\x1b');
    expect(out).toMatch(/1 error|errors/);
  });
});
