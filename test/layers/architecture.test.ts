// The layers keep their order: base <- abi <- grammar <- compiler <- codegen <-
// runtime <- bench, runtime reaches codegen only through its entry points, and
// no files import each other in a circle (test/helpers/import-graph.ts walks
// the real graph). The second half proves the checker can fail: it builds
// trees that break each rule and expects each break to be reported.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { buildImportGraph, checkArchitecture, describeViolation, LAYERS, type Violation } from '../helpers/import-graph.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const scratch: string[] = [];
afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'faultc-arch-'));
  scratch.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

describe('the import graph of this repository', () => {
  it('keeps every layer rule and has no cycle', () => {
    expect(checkArchitecture(root).map(describeViolation)).toEqual([]);
  });

  it('is walked in full, dynamic and type-only imports included', () => {
    const { graph } = buildImportGraph(root);
    const has = (from: string, to: string) => graph.edges.some((e) => e.from === from && e.to === to);
    expect(graph.files.length).toBeGreaterThan(100);
    expect(graph.edges.length).toBeGreaterThan(300);
    expect(has('runtime/cli/index.ts', 'runtime/cli/completion.ts')).toBe(true); // import('./completion.js')
    expect(has('runtime/engines/select.ts', 'runtime/engines/uffd.ts')).toBe(true); // import('./uffd.js')
    expect(has('grammar/ast.ts', 'base/span.ts')).toBe(true); // import type
    for (const layer of Object.keys(LAYERS).filter((l) => l !== 'bench')) {
      expect(graph.files.some((f) => f.startsWith(`${layer}/`)), layer).toBe(true);
    }
  });
});

describe('the checker fails on', () => {
  const kinds = (vs: Violation[]) => vs.map((v) => v.kind);

  it('an upward import, naming the file and line', () => {
    const dir = tree({
      'base/span.ts': "export type Span = number;\n\nimport { x } from '../grammar/lex.js';\nexport const y = x;\n",
      'grammar/lex.ts': "export const x = 1;\n",
    });
    const vs = checkArchitecture(dir);
    expect(kinds(vs)).toEqual(['upward']);
    expect(describeViolation(vs[0]!)).toMatch(/^base\/span\.ts:3: base\/ may not import grammar\/lex\.ts/);
  });

  it('runtime importing a codegen emitter, but not an entry point', () => {
    const dir = tree({
      'runtime/engine.ts': "import { N } from '../codegen/fault-bpf.js';\nimport { build } from '../codegen/build.js';\nexport const z = N + build;\n",
      'codegen/fault-bpf.ts': 'export const N = 8;\n',
      'codegen/build.ts': 'export const build = 1;\n',
    });
    const vs = checkArchitecture(dir);
    expect(vs).toHaveLength(1);
    expect(vs[0]).toMatchObject({ kind: 'emitter', edge: { from: 'runtime/engine.ts', to: 'codegen/fault-bpf.ts', line: 1 } });
  });

  it('a cycle made through a dynamic import, and an import that names no file', () => {
    const dir = tree({
      'runtime/select.ts': "export async function pick() { return (await import('./uffd.js')).engine; }\n",
      'runtime/uffd.ts': "import { pick } from './select.js';\nimport { gone } from './gone.js';\nexport const engine = { pick, gone };\n",
    });
    const vs = checkArchitecture(dir);
    expect(kinds(vs).sort()).toEqual(['cycle', 'unresolved']);
    expect(vs.find((v) => v.kind === 'cycle')).toEqual({ kind: 'cycle', files: ['runtime/select.ts', 'runtime/uffd.ts'] });
    expect(vs.find((v) => v.kind === 'unresolved')).toMatchObject({ file: 'runtime/uffd.ts', specifier: './gone.js', line: 2 });
  });

  it('a copy of this repository with one upward import added to base/', () => {
    const dir = tree({});
    for (const layer of Object.keys(LAYERS)) {
      cpSync(path.join(root, layer), path.join(dir, layer), { recursive: true, filter: (src) => !src.includes('node_modules') });
    }
    mkdirSync(path.join(dir, 'test/helpers'), { recursive: true });
    cpSync(path.join(root, 'test/helpers'), path.join(dir, 'test/helpers'), { recursive: true });
    expect(checkArchitecture(dir)).toEqual([]);
    const limits = path.join(dir, 'base/limits.ts');
    writeFileSync(limits, readFileSync(limits, 'utf8') + "import '../compiler/index.js';\n");
    const vs = checkArchitecture(dir);
    expect(vs.filter((v) => v.kind === 'upward').map((v) => v.kind === 'upward' && v.edge.from)).toEqual(['base/limits.ts']);
    // compiler/ imports base/limits.ts, which now imports compiler/: one cycle through both.
    const cycles = vs.filter((v): v is Extract<Violation, { kind: 'cycle' }> => v.kind === 'cycle');
    expect(cycles).toHaveLength(1);
    expect(cycles[0]!.files).toEqual(expect.arrayContaining(['base/limits.ts', 'compiler/index.ts']));
  });
});
