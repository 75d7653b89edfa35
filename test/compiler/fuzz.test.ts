// Fuzzing the front end: mutated examples, random token soup and random
// characters, several thousand inputs per run, seeded so a failure can be
// replayed (FAULTC_FUZZ_SEED=<n>). For every input the compiler must return
// (never throw), stay within a generous wall-clock cap per input (a hang
// detector, not a speed test), and give diagnostics with table codes and
// spans inside the text; bad input never yields IR, and through the build
// pipeline never leaves files behind.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileFile } from '../../codegen/build.js';
import { allCodes } from '../../base/codes.js';
import { evaluate } from '../../compiler/evaluate.js';
import { checkSource, type Result, type ProgramIR } from '../../compiler/index.js';
import { MAX_DIAGNOSTICS } from '../../base/limits.js';
import { SourceText } from '../../base/source-text.js';

const SEED = Number(process.env['FAULTC_FUZZ_SEED'] ?? 0x5eed_fa17);
/** Wall-clock cap per input: far above the few milliseconds an input takes, so only a hang trips it. */
const HANG_CAP_MS = 5_000;

const examplesDir = join(import.meta.dirname, '..', '..', 'examples');
const examples = readdirSync(examplesDir)
  .filter((f) => f.endsWith('.pfp'))
  .sort()
  .map((f) => readFileSync(join(examplesDir, f), 'utf8'));
const codes = new Set(allCodes().map((c) => c.code));

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VOCAB = [
  'policy', 'source', 'file', 'region', 'size', 'at', 'on', 'missing', 'write', 'read', 'if', 'else',
  'zero', 'fill', 'copy', 'sigbus', 'defer', 'prefetch', 'page', 'pages', 'ahead', 'behind', 'around',
  'notify', 'track', 'dirty', 'offset', 'address', 'and', 'or', 'not', 'B', 'KiB', 'MiB', 'GiB', 'TiB',
  '{', '}', '(', ')', ';', '=', '.', '+', '-', '*', '/', '%', '<<', '>>', '&', '|', '<', '<=', '>', '>=', '==', '!=',
  'image', 'heap', 'r', 'x', 'size', '0', '1', '4096', '0x1000', '0xA5', '256', '0x7fff_ffff_f000', '18446744073709551615',
  '"heap.img"', '""', '"a\\nb"', '"bad\\q"', '"open', '#c\n', '\n', '1_000', '0x', '__', '99999999999999999999999',
];

type Gen = () => string;

function generators(next: () => number): Record<string, Gen> {
  const int = (n: number): number => Math.floor(next() * n);
  const pick = <T>(xs: T[]): T => xs[int(xs.length)]!;
  const token = (): string => pick(VOCAB);
  const mutate = (text: string): string => {
    let t = text;
    const rounds = 1 + int(4);
    for (let r = 0; r < rounds; r++) {
      const at = int(t.length + 1);
      switch (int(7)) {
        case 0: // delete a range
          t = t.slice(0, at) + t.slice(Math.min(t.length, at + 1 + int(12)));
          break;
        case 1: // insert a token
          t = t.slice(0, at) + ' ' + token() + ' ' + t.slice(at);
          break;
        case 2: // replace one character with any code unit
          t = t.slice(0, at) + String.fromCharCode(int(0x3000)) + t.slice(at + 1);
          break;
        case 3: { // duplicate a line
          const lines = t.split('\n');
          const i = int(lines.length);
          lines.splice(i, 0, lines[i] ?? '');
          t = lines.join('\n');
          break;
        }
        case 4: // truncate
          t = t.slice(0, at);
          break;
        case 5: { // swap two words
          const words = t.split(/(\s+)/);
          const i = int(words.length);
          const j = int(words.length);
          [words[i], words[j]] = [words[j] ?? '', words[i] ?? ''];
          t = words.join('');
          break;
        }
        default: // replace a number with an extreme one
          t = t.replace(/\b\d+\b/, pick(['0', '18446744073709551616', '0xffff_ffff_ffff_ffff', '4097', '513', '256']));
      }
    }
    return t;
  };
  return {
    mutated: () => mutate(pick(examples)),
    soup: () => Array.from({ length: 1 + int(120) }, token).join(pick([' ', '\n', ''])),
    structured: () => {
      // Valid-looking skeletons with random statement bodies: reaches the checker, not just the parser.
      const stmts = Array.from({ length: 1 + int(6) }, () =>
        pick(['zero', 'sigbus', 'defer', 'notify', 'track dirty', `fill ${int(300)}`, `copy img at offset - ${int(3)} pages`, `prefetch ${int(600)} pages ${pick(['ahead', 'behind', 'around', ''])}`, `if offset < ${int(9)} KiB { ${pick(['zero', 'notify', ''])} } else { ${pick(['sigbus', 'copy img', ''])} }`]),
      ).join(pick(['\n', ' ', '; ']));
      return `policy p${int(3)} {\n  source img = file "${pick(['a.img', '', 'x'])}"\n  region r size ${int(5)} ${pick(['pages', 'KiB', 'B', 'MiB'])}${pick(['', ' at 0x7000_0000_0000', ' at 0x1001'])} {\n    on ${pick(['missing', 'write', 'missing'])} { ${stmts} }\n  }\n}\n`;
    },
    bytes: () => {
      const n = int(400);
      let s = '';
      for (let i = 0; i < n; i++) s += String.fromCharCode(next() < 0.7 ? 32 + int(95) : int(0x10000));
      return s;
    },
  };
}

function assertWellFormed(text: string, r: Result<ProgramIR>): void {
  const src = new SourceText(text, 'fuzz.pfp');
  for (const d of r.diagnostics) {
    expect(codes.has(d.code), `unknown code ${d.code}`).toBe(true);
    expect(d.message.length).toBeGreaterThan(0);
    const s = d.span;
    expect(s.startOffset >= 0 && s.startOffset <= s.endOffset && s.endOffset <= text.length, `span ${JSON.stringify(s)} in ${text.length} chars`).toBe(true);
    const start = src.position(s.startOffset);
    const end = src.position(s.endOffset);
    expect([s.startLine, s.startColumn, s.endLine, s.endColumn]).toEqual([start.line, start.column, end.line, end.column]);
  }
  expect(r.diagnostics.length).toBeLessThanOrEqual(MAX_DIAGNOSTICS + 1);
  if (r.ok) expect(r.diagnostics.every((d) => d.severity === 'warning')).toBe(true);
  else expect(r.diagnostics.some((d) => d.severity === 'error')).toBe(true);
}

interface Tally {
  inputs: number;
  rejected: number;
  slowestMs: number;
}

function run(kind: string, count: number, seed: number): Tally {
  const next = rng(seed);
  const gen = generators(next)[kind]!;
  const tally: Tally = { inputs: 0, rejected: 0, slowestMs: 0 };
  for (let i = 0; i < count; i++) {
    const text = gen();
    const t0 = performance.now();
    let r: Result<ProgramIR>;
    try {
      r = checkSource(text, 'fuzz.pfp');
    } catch (err) {
      throw new Error(`checkSource threw on ${kind} input #${i} (seed ${seed}): ${String(err)}\n--- input ---\n${JSON.stringify(text)}`);
    }
    const ms = performance.now() - t0;
    tally.slowestMs = Math.max(tally.slowestMs, ms);
    expect(ms, `${kind} input #${i} (seed ${seed}) took ${ms.toFixed(0)} ms: ${JSON.stringify(text.slice(0, 200))}`).toBeLessThan(HANG_CAP_MS);
    assertWellFormed(text, r);
    tally.inputs++;
    if (!r.ok) tally.rejected++;
  }
  process.stdout.write(`fuzz ${kind}: ${tally.inputs} inputs, ${tally.rejected} rejected, slowest ${tally.slowestMs.toFixed(1)} ms (seed ${seed})\n`);
  return tally;
}

describe(`fuzz (seed ${SEED})`, () => {
  it('mutated examples: 2000 inputs', () => {
    const t = run('mutated', 2000, SEED);
    expect(t.rejected).toBeGreaterThan(t.inputs / 2);
  });

  it('structured bodies that reach the checker: 1500 inputs', () => {
    const t = run('structured', 1500, SEED + 1);
    expect(t.rejected).toBeGreaterThan(0);
    expect(t.rejected).toBeLessThan(t.inputs);
  });

  it('random token soup: 1500 inputs', () => {
    run('soup', 1500, SEED + 2);
  });

  it('random characters: 1000 inputs', () => {
    const t = run('bytes', 1000, SEED + 3);
    expect(t.rejected).toBe(t.inputs);
  });
});

/** Random policies that obey every rule: the checker must accept each one, and the evaluator decide every fault. */
function validPolicy(next: () => number, id: number): string {
  const int = (n: number): number => Math.floor(next() * n);
  const pick = <T>(xs: T[]): T => xs[int(xs.length)]!;
  const leaf = (): string => pick(['offset', 'page', 'address', 'read', 'write', 'img.size', 'r0.size', String(int(5000)), `${1 + int(9)} KiB`, '0xff', '1 page']);
  const expr = (depth: number): string => {
    if (depth <= 0 || next() < 0.3) return leaf();
    switch (int(4)) {
      case 0:
        return `not ${expr(depth - 1)}`;
      case 1:
        // Divisors that are never a constant zero (a run-time zero is allowed: it is a SIGBUS, not an error).
        return `${expr(depth - 1)} ${pick(['/', '%'])} (${pick(['offset', 'page', 'img.size', '7'])} | ${pick(['1', 'write', '0'])})`;
      case 2:
        return `(${expr(depth - 1)})`;
      default: {
        const op = pick(['+', '-', '*', '<<', '>>', '&', '|', '<', '<=', '>', '>=', '==', '!=', 'and', 'or']);
        // Bracketed, so no text can chain comparisons (an error by design); precedence is tested in grammar.test.ts.
        return `(${expr(depth - 1)} ${op} ${expr(depth - 1)})`;
      }
    }
  };
  const action = (): string =>
    pick(['zero', 'sigbus', 'defer', `fill ${int(256)}`, 'copy img', `copy img at offset + ${int(4)} pages`, `copy img at (${expr(2)}) << 12`]);
  const modifiers = (): string[] => {
    const out: string[] = [];
    if (next() < 0.3) out.push(`prefetch ${1 + int(512)} ${pick(['page', 'pages'])} ${pick(['ahead', 'behind', 'around', ''])}`);
    if (next() < 0.3) out.push('notify');
    return out;
  };
  // A block that resolves on every path, with no modifier in `used` repeated.
  const block = (depth: number, used: Set<string>): string => {
    const mods = modifiers().filter((m) => !used.has(m.split(' ')[0]!));
    const inner = new Set([...used, ...mods.map((m) => m.split(' ')[0]!)]);
    let core: string;
    if (depth <= 0 || next() < 0.35) core = action();
    else {
      const links = 1 + int(3);
      core = Array.from({ length: links }, () => `if ${expr(3)} { ${block(depth - 1, inner)} }`).join(' else ') + ` else { ${block(depth - 1, inner)} }`;
    }
    const parts = [core, ...mods];
    for (let i = parts.length - 1; i > 0; i--) {
      const j = int(i + 1);
      [parts[i], parts[j]] = [parts[j]!, parts[i]!];
    }
    return parts.join(pick(['\n', ' ', '; ']));
  };
  const writeBlock = (): string => pick(['track dirty', 'notify', 'sigbus', 'track dirty notify', `if ${expr(2)} { sigbus } else { track dirty }`, '']);
  const regions = Array.from({ length: 1 + int(3) }, (_, i) => {
    const at = next() < 0.3 ? ` at 0x${(0x1000_0000_0000 + i * 0x1_0000_0000).toString(16)}` : '';
    const handlers = [next() < 0.9 ? `on missing { ${block(3, new Set())} }` : '', next() < 0.4 ? `on write { ${writeBlock()} }` : ''];
    return `  region r${i} size ${1 + int(64)} ${pick(['pages', 'MiB'])}${at} {\n    ${handlers.join('\n    ')}\n  }`;
  });
  return `policy p${id} {\n  source img = file "img.bin"\n${regions.join('\n')}\n  region keep size 1 page { on missing { copy img } }\n}\n`;
}

describe('valid policies are accepted and every fault gets a decision', () => {
  it('300 generated policies, 40 faults each', () => {
    const next = rng(SEED + 5);
    const allowed = new Set(['zero', 'fill', 'copy', 'sigbus', 'defer']);
    for (let i = 0; i < 300; i++) {
      const text = validPolicy(next, i);
      const r = checkSource(text, 'valid.pfp');
      if (!r.ok) throw new Error(`rejected valid policy #${i} (seed ${SEED + 5}): ${JSON.stringify(r.diagnostics.map((d) => [d.code, d.span.startLine, d.span.startColumn, d.message]))}\n${text}`);
      assertWellFormed(text, r);
      const policy = r.value.policies[0]!;
      for (let k = 0; k < 40; k++) {
        const region = policy.regions[Math.floor(next() * policy.regions.length)]!;
        const offset = BigInt(Math.floor(next() * Number(region.size / 4096n))) * 4096n;
        const write = next() < 0.5;
        const handler = write && next() < 0.5 ? 'write' : 'missing';
        const e = evaluate(policy, { region: region.index, handler, offset, address: (region.at ?? 0x7000_0000_0000n) + offset, write, sourceSizes: [BigInt(Math.floor(next() * 1e9))] });
        if (handler === 'missing') expect(allowed.has(e.action)).toBe(true);
        else expect(['none', 'sigbus']).toContain(e.action);
        for (const span of e.path) expect(span.endOffset).toBeLessThanOrEqual(text.length);
      }
    }
  });
});

describe('pathological inputs are refused with a code, never a stack overflow', () => {
  const body = (b: string): string => `policy p { region r size 1 page { on missing { ${b} } } }`;
  const cases: [string, string, string][] = [
    ['100k open brackets', body('fill ' + '('.repeat(100_000)), 'PFP2008'],
    ['100k nested blocks', 'policy p { region r size 1 page { on missing { ' + 'if 1 { '.repeat(100_000) + ' } } }', 'PFP2008'],
    ['100k `not`', body('fill ' + 'not '.repeat(100_000) + '1'), 'PFP2009'],
    ['100k-term sum', body('fill 0' + ' + 0'.repeat(100_000)), 'PFP2009'],
    ['20k `else if` links', body(Array.from({ length: 20_000 }, (_, i) => `if offset == ${i} { zero } else `).join('') + '{ zero }'), 'PFP2008'],
    ['30k regions', 'policy p {\n' + Array.from({ length: 30_000 }, (_, i) => `region r${i} size 1 page {}\n`).join('') + '}', 'PFP3016'],
    ['input over 1 MiB', '#'.repeat(1024 * 1024 + 10), 'PFP1008'],
    ['100k stray characters', '@'.repeat(100_000), 'PFP1001'],
    ['100k unterminated strings', '"\n'.repeat(100_000), 'PFP1002'],
  ];
  for (const [name, text, code] of cases) {
    it(name, () => {
      let r: Result<ProgramIR> | undefined;
      expect(() => {
        r = checkSource(text, 'deep.pfp');
      }).not.toThrow();
      expect(r!.ok).toBe(false);
      expect(r!.diagnostics.map((d) => d.code)).toContain(code);
      assertWellFormed(text, r!);
    });
  }
});

describe('bad input never produces output files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'faultc-fuzz-out-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('50 rejected inputs through compileFile leave the output folder empty', async () => {
    const next = rng(SEED + 4);
    const gens = generators(next);
    let tried = 0;
    for (let i = 0; tried < 50 && i < 1000; i++) {
      const text = (i % 2 ? gens['mutated']! : gens['structured']!)();
      if (checkSource(text, 'x.pfp').ok) continue;
      const file = join(dir, `in-${i}.pfp`);
      const outDir = join(dir, `out-${i}`);
      writeFileSync(file, text);
      const r = await compileFile(file, { outDir, emit: ['c', 'json'] });
      expect(r.ok).toBe(false);
      let left: string[] = [];
      try {
        left = readdirSync(outDir);
      } catch {
        left = [];
      }
      expect(left).toEqual([]);
      tried++;
    }
    expect(tried).toBe(50);
  });
});
