// grammar/scan.ts against chevrotain's lexer built from grammar/tokens.ts:
// the same tokens (type, text, offset) and the same errors (offset, length)
// on the examples, mutations of them, token soup and random characters.
// Seeded (FAULTC_FUZZ_SEED=<n> replays a run).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scan } from '../../grammar/scan.js';
import { KEYWORDS, makeLexer } from '../../grammar/tokens.js';

const SEED = Number(process.env['FAULTC_FUZZ_SEED'] ?? 0x5ca9);
const lexer = makeLexer(true);

const examplesDir = join(import.meta.dirname, '..', '..', 'examples');
const examples = readdirSync(examplesDir)
  .filter((f) => f.endsWith('.pfp'))
  .sort()
  .map((f) => readFileSync(join(examplesDir, f), 'utf8'));

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

function both(text: string) {
  const c = lexer.tokenize(text);
  const s = scan(text);
  const show = (t: { image: string; startOffset: number; tokenType: { name: string } }) => `${t.tokenType.name}@${t.startOffset}:${t.image}`;
  return {
    chevrotain: { tokens: c.tokens.map(show), errors: c.errors.map((e) => [e.offset, e.length]) },
    scan: { tokens: s.tokens.map(show), errors: s.errors.map((e) => [e.offset, e.length]) },
    idx: s.tokens.every((t) => t.tokenTypeIdx === t.tokenType.tokenTypeIdx),
  };
}

// Characters that start tokens, end them, or start none.
const ALPHABET = ' \t\r\n\f\v\uFEFF#"\\{}();.<>=!+-*/%&|_azAZ09xX\0é€😀\u2028~`$@^?:,[]\'';
const WORDS = [...KEYWORDS.map((k) => String((k.PATTERN as RegExp).source)), 'pagesx', 'pag', 'notif', 'in_', 'B2', 'Bx', 'offset1', '0x', '0xZZ', '1_000', '0b1', '"a\\"b"', '"open', '"x\\', '!', '!=', '<<=', '>>>', '# c'];

describe('the hand-written lexer gives what chevrotain gives', () => {
  it('on every example', () => {
    for (const text of examples) {
      const r = both(text);
      expect(r.scan).toEqual(r.chevrotain);
      expect(r.idx).toBe(true);
    }
  });

  it('on 3,000 generated inputs (mutated examples, word soup, random characters)', () => {
    const next = rng(SEED);
    const int = (n: number): number => Math.floor(next() * n);
    for (let i = 0; i < 3000; i++) {
      let text: string;
      switch (i % 3) {
        case 0: {
          text = examples[int(examples.length)]!;
          for (let k = 0; k < 1 + int(4); k++) {
            const at = int(text.length + 1);
            text = text.slice(0, at) + ALPHABET[int(ALPHABET.length)] + text.slice(at + int(2));
          }
          break;
        }
        case 1:
          text = Array.from({ length: 1 + int(60) }, () => WORDS[int(WORDS.length)]).join(['', ' ', '\n'][int(3)]);
          break;
        default:
          text = Array.from({ length: int(200) }, () => (next() < 0.8 ? ALPHABET[int(ALPHABET.length)] : String.fromCharCode(int(0x10000)))).join('');
      }
      const r = both(text);
      if (JSON.stringify(r.scan) !== JSON.stringify(r.chevrotain)) expect({ text, ...r.scan }).toEqual({ text, ...r.chevrotain });
    }
  });
});
