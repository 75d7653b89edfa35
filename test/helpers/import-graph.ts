// The import graph of the TypeScript sources and the layer rules it must keep
// (docs/architecture.md, "Layers"). Imports are read by TypeScript's own
// pre-parser (static, type-only, re-exports and `import()` alike), resolved to
// files, and checked: every edge points to the same layer or one below, runtime
// reaches codegen only through its entry points, and no files import each
// other in a circle.
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** Layers from the bottom up; a file may import its own layer and those listed. */
export const LAYERS: Readonly<Record<string, readonly string[]>> = {
  base: [],
  abi: ['base'],
  grammar: ['base'],
  compiler: ['base', 'abi', 'grammar'],
  codegen: ['base', 'abi', 'grammar', 'compiler'],
  runtime: ['base', 'abi', 'grammar', 'compiler', 'codegen'],
  /** bench/ measures what the tests exercise and may share their fixtures (test/helpers/). */
  bench: ['base', 'abi', 'grammar', 'compiler', 'codegen', 'runtime', 'test'],
};

/**
 * What runtime/ may import from codegen/: building a policy, the compiler
 * driver, the manifest and the build's codes. The C emitters are not among
 * them; constants runtime and C share live in abi/.
 */
export const CODEGEN_ENTRY_POINTS: readonly string[] = [
  'codegen/build.ts',
  'codegen/generic-trace.ts',
  'codegen/clang.ts',
  'codegen/manifest.ts',
  'codegen/codes.ts',
];

export interface ImportEdge {
  from: string;
  to: string;
  line: number;
}

export interface ImportGraph {
  files: string[];
  edges: ImportEdge[];
}

export type Violation =
  | { kind: 'upward'; edge: ImportEdge }
  | { kind: 'emitter'; edge: ImportEdge }
  | { kind: 'unresolved'; file: string; specifier: string; line: number }
  | { kind: 'cycle'; files: string[] };

function sourceFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  const abs = path.join(root, dir);
  if (!existsSync(abs)) return out;
  for (const name of readdirSync(abs).sort()) {
    const rel = path.posix.join(dir, name);
    if (statSync(path.join(root, rel)).isDirectory()) out.push(...sourceFiles(root, rel));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** `./x.js` from `dir/file.ts` -> `dir/x.ts` (repository-relative), or null when it names no source file. */
function resolveSpecifier(root: string, from: string, spec: string): string | null {
  const joined = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  const candidates = joined.endsWith('.js') ? [joined.slice(0, -3) + '.ts'] : [joined + '.ts', joined + '/index.ts', joined];
  return candidates.find((c) => existsSync(path.join(root, c)) && statSync(path.join(root, c)).isFile()) ?? null;
}

export function buildImportGraph(root: string): { graph: ImportGraph; unresolved: Violation[] } {
  const files = Object.keys(LAYERS).flatMap((layer) => sourceFiles(root, layer));
  const edges: ImportEdge[] = [];
  const unresolved: Violation[] = [];
  for (const file of files) {
    const text = readFileSync(path.join(root, file), 'utf8');
    const info = ts.preProcessFile(text, true, true);
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith('.')) continue; // node: builtins and packages
      const line = text.slice(0, ref.pos).split('\n').length;
      const to = resolveSpecifier(root, file, ref.fileName);
      if (to === null) unresolved.push({ kind: 'unresolved', file, specifier: ref.fileName, line });
      else edges.push({ from: file, to, line });
    }
  }
  return { graph: { files, edges }, unresolved };
}

function layerOf(file: string): string {
  return file.split('/')[0]!;
}

/** Files that import one another in a circle (Tarjan's strongly connected components), each listed once. */
export function findCycles(graph: ImportGraph): string[][] {
  const next = new Map<string, string[]>(graph.files.map((f) => [f, []]));
  for (const e of graph.edges) next.get(e.from)?.push(e.to);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let counter = 0;
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (next.get(v) ?? []).includes(v)) cycles.push(scc.sort());
    }
  };
  for (const f of graph.files) if (!index.has(f)) visit(f);
  return cycles;
}

export function checkLayers(graph: ImportGraph): Violation[] {
  const out: Violation[] = [];
  for (const edge of graph.edges) {
    const from = layerOf(edge.from);
    const to = layerOf(edge.to);
    if (from === to) continue;
    if (!LAYERS[from]?.includes(to)) out.push({ kind: 'upward', edge });
    else if (from === 'runtime' && to === 'codegen' && !CODEGEN_ENTRY_POINTS.includes(edge.to)) out.push({ kind: 'emitter', edge });
  }
  return out;
}

/** Every rule the tree breaks, in a stable order. */
export function checkArchitecture(root: string): Violation[] {
  const { graph, unresolved } = buildImportGraph(root);
  return [...unresolved, ...checkLayers(graph), ...findCycles(graph).map((files): Violation => ({ kind: 'cycle', files }))];
}

export function describeViolation(v: Violation): string {
  switch (v.kind) {
    case 'upward':
      return `${v.edge.from}:${v.edge.line}: ${layerOf(v.edge.from)}/ may not import ${v.edge.to} (${layerOf(v.edge.from)}/ imports only ${LAYERS[layerOf(v.edge.from)]?.join(', ') || 'nothing outside itself'})`;
    case 'emitter':
      return `${v.edge.from}:${v.edge.line}: runtime/ imports the codegen emitter ${v.edge.to} (allowed: ${CODEGEN_ENTRY_POINTS.join(', ')}; shared constants belong in abi/)`;
    case 'unresolved':
      return `${v.file}:${v.line}: ${v.specifier} names no source file`;
    case 'cycle':
      return `import cycle: ${v.files.join(' <-> ')}`;
  }
}
