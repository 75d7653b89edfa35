// The generated decision function, built for the host as <policy>.decide.so,
// against the TypeScript reference evaluator: the same decision (action and
// every field) on thousands of seeded random and edge faults per policy, for
// both handlers and both access kinds, with several source sizes. Covers the
// four examples, text policies exercising every operator through the real
// parser, and randomly generated IR.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Expr, Handler, PolicyIR, ProgramIR, Stmt } from '../../compiler/ir.js';
import { checkFile, checkSource } from '../../compiler/index.js';
import { evaluate, type EvalInput } from '../../compiler/evaluate.js';
import { compileProgram } from '../../codegen/build-program.js';
import { compileHostSo } from '../../codegen/clang.js';
import { decideHostCName, emitDecideHostC } from '../../codegen/decide-host.js';
import { emitPolicy } from '../../codegen/index.js';
import { artifactFileName } from '../../codegen/manifest.js';
import { buildDriver, expectedLine, inputLine, Rng, runDriver } from '../helpers/decide-driver.js';
import { S, policy as makePolicy, region as makeRegion } from '../helpers/ir-build.js';
import { BINARY, INTERESTING, randomPolicy } from '../helpers/random-ir.js';

const root = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'faultc-diff-'));
let driver = '';
beforeAll(() => {
  driver = buildDriver(work);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PAGE = 4096n;
const U64 = (1n << 64n) - 1n;

/** Builds the host library of every policy in `program` the way `faultc compile` does; returns paths by policy name. */
async function buildLibraries(program: ProgramIR, name: string): Promise<Map<string, string>> {
  const outDir = join(work, name);
  const r = await compileProgram(program, { outDir, emit: ['obj'] });
  if (!r.ok) throw new Error(`${name}: ${JSON.stringify(r.diagnostics)}`);
  return new Map(r.value.map((p) => [p.policy, join(outDir, artifactFileName(p.policy, 'decideSo'))]));
}

/** Only the host libraries (no BPF objects): the generated C and the same host compile. */
async function buildHostLibraries(program: ProgramIR, name: string): Promise<Map<string, string>> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  const libs = new Map<string, string>();
  await Promise.all(
    program.policies.map(async (policy) => {
      for (const [file, text] of emitPolicy(program, policy)) await writeFile(join(dir, file), text);
      const source = join(dir, decideHostCName(policy.name));
      await writeFile(source, emitDecideHostC(policy.name));
      const output = join(dir, artifactFileName(policy.name, 'decideSo'));
      const r = await compileHostSo({ source, output, includeDirs: [dir] });
      if (!r.ok) throw new Error(r.failure.output);
      libs.set(policy.name, output);
    }),
  );
  return libs;
}

/** Compares the library with the evaluator on every input; reports the first few differences. */
function compare(policy: PolicyIR, so: string, inputs: EvalInput[]): void {
  const { header, lines } = runDriver(driver, so, inputs);
  expect(header).toBe(`abi 1 policy ${policy.name}`);
  expect(lines.length).toBe(inputs.length);
  const diffs: string[] = [];
  inputs.forEach((input, i) => {
    const want = expectedLine(evaluate(policy, input));
    if (lines[i] !== want && diffs.length < 5) diffs.push(`input ${inputLine(input)}\n  C:  ${lines[i]}\n  TS: ${want}`);
  });
  expect(diffs, diffs.join('\n')).toEqual([]);
}

/** Faults for a policy: edges and random offsets in each region, both handlers, both accesses, several source sizes. */
function faultsFor(policy: PolicyIR, rng: Rng, randomPerRegion: number, anyOffset: boolean): EvalInput[] {
  const inputs: EvalInput[] = [];
  const n = policy.sources.length;
  const sizeSets: bigint[][] = [
    Array<bigint>(n).fill(0n),
    Array<bigint>(n).fill(PAGE),
    Array<bigint>(n).fill(1n << 20n),
    Array<bigint>(n).fill((1n << 20n) + 123n),
    Array.from({ length: n }, () => rng.below(1n << 28n)),
    Array.from({ length: n }, () => rng.pick(INTERESTING)),
  ];
  for (const region of policy.regions) {
    const pages = region.size / PAGE;
    const base = region.at ?? 0x7f00_0000_0000n + BigInt(region.index) * (1n << 32n);
    const offsets: bigint[] = [0n, PAGE, 2n * PAGE, 3n * PAGE, region.size - PAGE, region.size / 2n, 64n * 1024n, 64n * 1024n - PAGE, 1n << 20n, (1n << 20n) - PAGE];
    for (let i = 0; i < randomPerRegion; i++) offsets.push(rng.below(pages) * PAGE);
    // Far offsets too, but page-aligned as every engine gives them: the C
    // leaves out alignment checks that cannot fail for such an offset.
    if (anyOffset) for (let i = 0; i < randomPerRegion; i++) offsets.push((i % 2 === 0 ? rng.next() : rng.pick(INTERESTING)) & ~(PAGE - 1n) & U64);
    for (const offset of offsets) {
      for (const handler of ['missing', 'write'] as Handler[]) {
        for (const write of [false, true]) {
          inputs.push({
            region: region.index,
            handler,
            write,
            offset,
            address: (base + offset) & U64,
            sourceSizes: rng.pick(sizeSets),
          });
        }
      }
    }
  }
  return inputs;
}

describe('examples: decide.so agrees with the evaluator', () => {
  const examples = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.pfp')).sort();
  for (const example of examples) {
    test(`${example}`, async () => {
      const r = await checkFile(join(root, 'examples', example));
      if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
      const libs = await buildLibraries(r.value, example.replace(/\.pfp$/, ''));
      const rng = new Rng(0x5eedn + BigInt(example.length));
      for (const policy of r.value.policies) {
        const inputs = faultsFor(policy, rng, 600, false);
        expect(inputs.length).toBeGreaterThan(2000);
        compare(policy, libs.get(policy.name) ?? '', inputs);
      }
    });
  }
});

/** Text policies: every operator through the parser and checker, run-time zero divisors, big shifts. */
const OPERATOR_POLICIES = `
policy ops {
  source a = file "a.img"
  source b = file "b.img"
  region arith size 64 MiB {
    on missing {
      if (offset + 4096) * 3 - page > 0x10000 and offset % 3 == 0 {
        copy a at (offset / 4096 * 4096 + a.size) & 0xffff_f000
        prefetch 4 pages behind
      } else if page / (page % 5) > 2 or not (offset <= 0x3000) {
        fill 0x5A
        notify
      } else if offset >> page == 0 and (page << 62) != 0 {
        copy b at offset << (page & 63)
      } else if offset | 1 >= 0x2001 and (write or read) {
        zero
        prefetch 2 pages around
      } else {
        sigbus
      }
    }
    on write {
      if b.size / (offset & 0x3000) >= 1 { track dirty } else { notify }
    }
  }
  region shifts size 1 MiB at 0x7000_0000_0000 {
    on missing {
      if address >> 44 == 7 and (1 << page) > 8 { defer } else if address % 0x2000 != 0 { copy a at offset - a.size } else { copy a }
    }
  }
}
`;

describe('operators: text policies agree with the evaluator', () => {
  test('every operator, run-time division by zero, unaligned copy offsets, shifts past 63', async () => {
    const r = checkSource(OPERATOR_POLICIES, join(work, 'ops.pfp'));
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics, null, 1));
    const libs = await buildLibraries(r.value, 'ops');
    const rng = new Rng(42n);
    const policy = r.value.policies[0];
    if (!policy) throw new Error('no policy');
    const inputs = faultsFor(policy, rng, 1500, true);
    compare(policy, libs.get('ops') ?? '', inputs);
    // The inputs really reach the error paths and several actions.
    const seen = new Set(inputs.map((i) => {
      const e = evaluate(policy, i);
      return e.error ?? e.action;
    }));
    for (const kind of ['divideByZero', 'unalignedOffset', 'copy', 'fill', 'zero', 'sigbus', 'defer', 'none']) {
      expect(seen, `no input reached ${kind}`).toContain(kind);
    }
  });
});

describe('random IR agrees with the evaluator', () => {
  test('40 generated policies, every operator, thousands of faults each', async () => {
    const rng = new Rng(0xfa017n);
    const policies = Array.from({ length: 40 }, (_, i) => randomPolicy(rng, i));
    const program: ProgramIR = { file: join(work, 'gen.pfp'), sourceHash: '0'.repeat(64), policies };
    await writeFile(program.file, '# generated IR has no text\n');
    const libs = await buildHostLibraries(program, 'gen');
    const ops = new Set<string>();
    const walk = (e: Expr): void => {
      if (e.kind === 'binary') {
        ops.add(e.op);
        walk(e.left);
        walk(e.right);
      } else if (e.kind === 'not') {
        ops.add('not');
        walk(e.operand);
      }
    };
    const walkStmts = (ss: Stmt[]): void => {
      for (const s of ss) {
        if (s.kind === 'if') {
          walk(s.cond);
          walkStmts(s.then);
          walkStmts(s.else);
        } else if (s.kind === 'copy') walk(s.at);
      }
    };
    let total = 0;
    for (const policy of policies) {
      for (const r of policy.regions) walkStmts([...(r.onMissing ?? []), ...(r.onWrite ?? [])]);
      const inputs = faultsFor(policy, rng, 150, true);
      total += inputs.length;
      compare(policy, libs.get(policy.name) ?? '', inputs);
    }
    expect(total).toBeGreaterThan(40 * 1000);
    for (const op of [...BINARY, 'not']) expect(ops, `no generated policy used ${op}`).toContain(op);
  });

  test('an unknown region gives -1', async () => {
    const p = makePolicy('small', [makeRegion(0, 'only', { onMissing: [S.zero()] })]);
    const program: ProgramIR = { file: join(work, 'small.pfp'), sourceHash: '0'.repeat(64), policies: [p] };
    const libs = await buildLibraries(program, 'small');
    const base: EvalInput = { region: 0, handler: 'missing', write: false, offset: 0n, address: 0n, sourceSizes: [] };
    const { lines } = runDriver(driver, libs.get('small') ?? '', [
      base,
      { ...base, region: 1 },
      { ...base, region: 0xffffffff },
    ]);
    expect(lines).toEqual(['1 0 0 0 0 0 0 0', 'ret -1', 'ret -1']);
  });
});
