// Bad policies, one problem each: the expected code at the expected line and
// column. `‸` in a case marks where the diagnostic must start; it is removed
// before checking. Checked structurally, never by comparing printed text.
import { describe, expect, it } from 'vitest';
import { allCodes } from '../../base/codes.js';
import type { Diagnostic } from '../../base/diagnostic.js';
import { formatDiagnostic, formatDiagnostics, useColor } from '../../base/format.js';
import { checkSource } from '../../compiler/index.js';
import { MAX_DIAGNOSTICS, MAX_INPUT_BYTES, MAX_REGIONS } from '../../base/limits.js';
import { cases, locate, missing } from '../helpers/bad-policies.js';

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
    const t = 'policy p';
    const d = check(t).diagnostics[0]!;
    expect(d.code).toBe('PFP2003');
    const lines = formatDiagnostic(d, t, { color: false }).split('\n');
    expect(lines[0]).toMatch(/case\.pfp:1:9: error PFP2003/);
    expect(lines[2]).toBe('  |         ^');
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
