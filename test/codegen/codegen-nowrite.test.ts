// compileFile on a thousand mutated examples (seeded): bad input never throws
// and never leaves a file or folder behind; input the checker accepts always
// builds (the C compiler never rejects checked input), host and BPF alike.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { compileFile } from '../../codegen/build.js';
import { Rng } from '../helpers/decide-driver.js';

const root = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'faultc-nowrite-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const examples = readdirSync(join(root, 'examples'))
  .filter((f) => f.endsWith('.pfp'))
  .sort()
  .map((f) => readFileSync(join(root, 'examples', f), 'utf8'));

const TOKENS = ['{', '}', '(', ')', ';', 'if', 'else', 'zero', 'copy', 'image', 'at', 'offset', 'page', '/', '%', '<<', '>>', '0', '0x1000', '1 MiB', 'notify', 'prefetch 3 pages', 'sigbus', 'defer', 'and', 'not', '"x"', 'region', 'source', '\n', '#', '\\', '\0', 'é'];
const OPS = ['+', '-', '*', '/', '%', '<<', '>>', '&', '|', '<', '<=', '>', '>=', '==', '!=', 'and', 'or'];

function mutate(text: string, rng: Rng): string {
  let t = text;
  const n = 1 + rng.int(3);
  for (let i = 0; i < n; i++) {
    const at = rng.int(t.length + 1);
    switch (rng.int(6)) {
      case 0: // delete a range
        t = t.slice(0, at) + t.slice(at + 1 + rng.int(12));
        break;
      case 1: // insert a token
        t = t.slice(0, at) + ' ' + rng.pick(TOKENS) + ' ' + t.slice(at);
        break;
      case 2: {
        // replace an integer with another (often keeps the policy valid)
        const nums = [...t.matchAll(/\b(0x[0-9a-fA-F_]+|[0-9][0-9_]*)\b/g)];
        const m = nums.length > 0 ? rng.pick(nums) : undefined;
        if (m?.index !== undefined) {
          const v = rng.pick(['0', '1', '7', '64', '4096', '0x1000', '0xffff_ffff_ffff_ffff', String(rng.below(1n << 40n))]);
          t = t.slice(0, m.index) + v + t.slice(m.index + m[0].length);
        }
        break;
      }
      case 3: {
        // replace an operator
        const ops = [...t.matchAll(/ (<<|>>|<=|>=|==|!=|<|>|\+|-|\*|\/|%|&|\||and|or) /g)];
        const m = ops.length > 0 ? rng.pick(ops) : undefined;
        if (m?.index !== undefined) t = t.slice(0, m.index) + ` ${rng.pick(OPS)} ` + t.slice(m.index + m[0].length);
        break;
      }
      case 4: {
        // duplicate a line
        const lines = t.split('\n');
        const l = rng.int(lines.length);
        lines.splice(l, 0, lines[l] ?? '');
        t = lines.join('\n');
        break;
      }
      default: // a random byte
        t = t.slice(0, at) + String.fromCharCode(rng.int(128)) + t.slice(at);
    }
  }
  return t;
}

describe('compile never writes for bad input', () => {
  test('1,000 mutated examples: errors leave nothing; accepted ones build', async () => {
    const rng = new Rng(0xc0de9en);
    let bad = 0;
    let good = 0;
    let built = 0;
    const sentinelDir = join(work, 'existing');
    mkdirSync(sentinelDir);
    writeFileSync(join(sentinelDir, 'keep'), 'x');
    for (let i = 0; i < 1000; i++) {
      const text = mutate(rng.pick(examples), rng);
      const file = join(work, `m${i}.pfp`);
      writeFileSync(file, text);
      const out = join(work, `out${i}`);
      // Most runs write C and the manifest (no clang); some build every artifact.
      const full = good < 25 && rng.chance(0.5);
      const r = await compileFile(file, { outDir: out, emit: full ? ['c', 'obj', 'json'] : ['c', 'json'] });
      if (!r.ok) {
        bad++;
        expect(r.diagnostics.length).toBeGreaterThan(0);
        expect(
          r.diagnostics.filter((d) => /^PFP900[14]$/.test(d.code)),
          `checked input failed to build:\n${text}\n${JSON.stringify(r.diagnostics)}`,
        ).toEqual([]);
        expect(existsSync(out), `output left for bad input:\n${text}`).toBe(false);
        // A bad run into an existing folder leaves it as it was.
        if (i % 50 === 0) {
          const again = await compileFile(file, { outDir: sentinelDir });
          expect(again.ok).toBe(false);
          expect(readdirSync(sentinelDir)).toEqual(['keep']);
        }
      } else {
        good++;
        if (full) built++;
        const names = readdirSync(out);
        expect(names.some((n) => n.startsWith('.faultc-tmp-'))).toBe(false);
        expect(names.length).toBe(r.value.reduce((k, p) => k + p.files.length, 0));
      }
      rmSync(file);
    }
    console.log(`codegen-nowrite: ${bad} rejected, ${good} accepted (${built} built with clang)`);
    expect(bad).toBeGreaterThan(250);
    expect(good).toBeGreaterThan(25);
    expect(built).toBeGreaterThan(5);
  }, 300_000);
});
