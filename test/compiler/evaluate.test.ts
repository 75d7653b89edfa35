// The reference evaluator: each example against a hand-written reading of its
// policy on many seeded offsets, and the run-time rules (wrapping, shifts,
// division by zero, unaligned copies, defaults) one by one.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluate, type EvalInput, type Evaluation } from '../../compiler/evaluate.js';
import { checkSource, type PolicyIR } from '../../compiler/index.js';

const examplesDir = join(import.meta.dirname, '..', '..', 'examples');
const PAGE = 4096n;
const MiB = 1n << 20n;

function load(name: string): { policy: PolicyIR; text: string } {
  const file = join(examplesDir, name);
  const text = readFileSync(file, 'utf8');
  const r = checkSource(text, file);
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
  return { policy: r.value.policies[0]!, text };
}

function policy(text: string): PolicyIR {
  const r = checkSource(text, '/t/x.pfp');
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics.map((d) => [d.code, d.message])));
  return r.value.policies[0]!;
}

/** Seeded generator (mulberry32) so failures reproduce. */
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

/** Page-aligned offsets in a region: the edges, and `count` random ones. */
function offsets(size: bigint, count: number, seed: number): bigint[] {
  const pages = size / PAGE;
  const next = rng(seed);
  const out = [0n, PAGE, size - PAGE, 15n * PAGE, 16n * PAGE, 17n * PAGE, 255n * PAGE, 256n * PAGE, 257n * PAGE].filter((o) => o < size);
  for (let i = 0; i < count; i++) out.push(BigInt(Math.floor(next() * Number(pages))) * PAGE);
  return out;
}

function input(region: number, offset: bigint, extra: Partial<EvalInput> = {}): EvalInput {
  return { region, handler: 'missing', offset, address: 0x7000_0000_0000n + offset, write: false, sourceSizes: [], ...extra };
}

/** The decision without the path, for comparing with expectations. */
function decision(e: Evaluation): Omit<Evaluation, 'path'> {
  const { path: _path, ...rest } = e;
  return rest;
}

describe('debug-guard.pfp', () => {
  const { policy: p } = load('debug-guard.pfp');
  it('every page of the arena is filled with 0xA5, for reads and writes', () => {
    for (const off of offsets(p.regions[0]!.size, 300, 1)) {
      for (const write of [false, true]) {
        expect(decision(evaluate(p, input(0, off, { write })))).toEqual({ action: 'fill', fillByte: 0xa5, notify: false, trackDirty: false });
      }
    }
  });
  it('the guard page notifies and gets SIGBUS', () => {
    expect(decision(evaluate(p, input(1, 0n)))).toEqual({ action: 'sigbus', notify: true, trackDirty: false });
  });
  it('a write fault with no `on write` does nothing', () => {
    expect(decision(evaluate(p, input(0, 0n, { handler: 'write', write: true })))).toEqual({ action: 'none', notify: false, trackDirty: false });
  });
});

describe('postcopy.pfp', () => {
  const { policy: p, text } = load('postcopy.pfp');
  it('the bottom 64 KiB is a guard, the rest is copied 64 KiB lower with 31 pages around', () => {
    for (const off of offsets(p.regions[0]!.size, 500, 2)) {
      const e = evaluate(p, input(0, off, { sourceSizes: [100n * MiB] }));
      if (off < 64n * 1024n) expect(decision(e)).toEqual({ action: 'sigbus', notify: false, trackDirty: false });
      else {
        expect(decision(e)).toEqual({
          action: 'copy',
          source: 0,
          sourceOffset: off - 64n * 1024n,
          prefetch: { pages: 31, direction: 'around' },
          notify: false,
          trackDirty: false,
        });
      }
    }
  });
  it('records the path: the condition, then the statements of the branch taken', () => {
    const lines = (off: bigint): string[] => evaluate(p, input(0, off)).path.map((s) => text.split('\n')[s.startLine - 1]!.trim());
    expect(lines(0n)).toEqual(['if offset < 64 KiB {', 'sigbus']);
    expect(lines(1n * MiB)).toEqual(['if offset < 64 KiB {', 'copy image at offset - 64 KiB', 'prefetch 31 pages around']);
  });
});

describe('snapshot-restore.pfp', () => {
  const { policy: p } = load('snapshot-restore.pfp');
  it('copies each page at its own offset, prefetches 15 ahead and notifies', () => {
    for (const off of offsets(p.regions[0]!.size, 300, 3)) {
      expect(decision(evaluate(p, input(0, off, { write: off % (2n * PAGE) === 0n })))).toEqual({
        action: 'copy',
        source: 0,
        sourceOffset: off,
        prefetch: { pages: 15, direction: 'ahead' },
        notify: true,
        trackDirty: false,
      });
    }
  });
});

describe('tiered.pfp', () => {
  const { policy: p } = load('tiered.pfp');
  const expected = (off: bigint, write: boolean, imageSize: bigint): Omit<Evaluation, 'path'> => {
    if (off < MiB && off < imageSize) return { action: 'copy', source: 0, sourceOffset: off, notify: false, trackDirty: false };
    if (write) return { action: 'zero', notify: true, trackDirty: false };
    return { action: 'zero', notify: false, trackDirty: false };
  };
  for (const imageSize of [0n, 12n * PAGE + 100n, MiB, 4n * MiB]) {
    it(`matches its reading for an image of ${imageSize} bytes`, () => {
      for (const off of offsets(p.regions[0]!.size, 300, 4 + Number(imageSize % 97n))) {
        for (const write of [false, true]) {
          expect(decision(evaluate(p, input(0, off, { write, sourceSizes: [imageSize] })))).toEqual(expected(off, write, imageSize));
        }
      }
    });
  }
  it('`on write` tracks the page as dirty and resolves nothing', () => {
    expect(decision(evaluate(p, input(0, 5n * PAGE, { handler: 'write', write: true })))).toEqual({ action: 'none', notify: false, trackDirty: true });
  });
  it('a missing source size counts as 0', () => {
    expect(evaluate(p, input(0, 0n)).action).toBe('zero');
  });
});

describe('run-time rules', () => {
  const one = (body: string, extra: Partial<EvalInput> = {}, decl = ''): Evaluation =>
    evaluate(policy(`policy p {\n  source img = file "i"\n${decl}  region r size 1 GiB {\n    on missing { ${body} }\n  }\n}`), input(0, extra.offset ?? 0n, extra));

  it('division by a run-time zero is SIGBUS with divideByZero, and drops everything else', () => {
    const e = one('notify prefetch 4 pages if 4096 / offset > 0 { copy img } else { zero }');
    expect(decision(e)).toEqual({ action: 'sigbus', error: 'divideByZero', notify: false, trackDirty: false });
    expect(e.path.at(-1)!.startLine).toBe(4);
    expect(one('notify if 4096 / offset > 0 { copy img } else { zero }', { offset: PAGE }).action).toBe('copy');
  });

  it('remainder by a run-time zero is an error too', () => {
    expect(one('if 5 % (offset & 1) { zero } else { zero }').error).toBe('divideByZero');
  });

  it('both sides of `and` and `or` are evaluated', () => {
    expect(one('if 0 and 1 / offset { zero } else { sigbus }').error).toBe('divideByZero');
    expect(one('if 1 or 1 / offset { zero } else { sigbus }').error).toBe('divideByZero');
  });

  it('a copy offset not page-aligned at run time is SIGBUS with unalignedOffset', () => {
    const e = one('copy img at offset + img.size', { sourceSizes: [100n] });
    expect(decision(e)).toEqual({ action: 'sigbus', error: 'unalignedOffset', notify: false, trackDirty: false });
    expect(one('copy img at offset + img.size', { sourceSizes: [8192n] })).toMatchObject({ action: 'copy', sourceOffset: 8192n });
  });

  it('arithmetic wraps at 64 bits', () => {
    expect(one('copy img at offset - 1 page', { offset: 0n })).toMatchObject({ action: 'copy', sourceOffset: (1n << 64n) - PAGE });
    expect(one('copy img at offset * 0x1_0000_0000 * 0x1_0000_0000', { offset: PAGE })).toMatchObject({ sourceOffset: 0n });
  });

  it('shifts by 64 or more give 0, below that they shift', () => {
    expect(one('copy img at 1 page << (offset >> 12)', { offset: 64n * PAGE })).toMatchObject({ sourceOffset: 0n });
    expect(one('copy img at 1 page << (offset >> 12)', { offset: 3n * PAGE })).toMatchObject({ sourceOffset: 8n * PAGE });
    expect(one('copy img at 0x8000_0000_0000_0000 >> (offset >> 12) << 12', { offset: 100n * PAGE })).toMatchObject({ sourceOffset: 0n });
  });

  it('`page`, `address`, `read` and `write` come from the fault', () => {
    const addr = 0x7e00_0000_5000n;
    expect(one('if page == 5 and address == 0x7e00_0000_5000 and read and not write { zero } else { sigbus }', { offset: 5n * PAGE, address: addr }).action).toBe('zero');
    expect(one('if read { zero } else { sigbus }', { write: true }).action).toBe('sigbus');
  });

  it('comparisons and logic give 1 and 0', () => {
    const body = 'copy img at ((offset < 1) + (2 > offset) + (not offset) + (3 and offset) + (0 or offset)) * 1 page';
    expect(one(body, { offset: 0n })).toMatchObject({ sourceOffset: 3n * PAGE });
    expect(one(body, { offset: PAGE })).toMatchObject({ sourceOffset: 2n * PAGE });
  });

  it('a region without `on missing` gives zero, with an empty path', () => {
    const p = policy('policy p { region r size 1 page {} }');
    expect(evaluate(p, input(0, 0n))).toEqual({ action: 'zero', notify: false, trackDirty: false, path: [] });
  });

  it('`on write` gives sigbus when it runs sigbus, else none', () => {
    const p = policy('policy p { region r size 4 pages { on write { if page == 1 { sigbus notify } else { track dirty } } } }');
    expect(decision(evaluate(p, input(0, PAGE, { handler: 'write', write: true })))).toEqual({ action: 'sigbus', notify: true, trackDirty: false });
    expect(decision(evaluate(p, input(0, 0n, { handler: 'write', write: true })))).toEqual({ action: 'none', notify: false, trackDirty: true });
  });

  it('defer is passed through as a decision', () => {
    expect(one('if write { defer } else { zero }', { write: true }).action).toBe('defer');
  });

  it('an unknown region index is a caller error', () => {
    const p = policy('policy p { region r size 1 page {} }');
    expect(() => evaluate(p, input(3, 0n))).toThrow(RangeError);
  });
});
