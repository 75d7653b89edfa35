// One open .pfp document as the compiler sees it: the checker's result and
// diagnostics, the recovered syntax tree, the tokens, and an index of the
// names each policy declares and where they are used. Built by the compiler's
// own analyzeSource(): the editor never parses a second way.
import type { IToken } from 'chevrotain';
import { analyzeSource, type Analysis } from '../../compiler/index.js';
import type { ProgramIR } from '../../compiler/ir.js';
import type { Span } from '../../base/span.js';
import type { Ident, PolicyAst, RegionAst, SourceAst } from '../../grammar/ast.js';

export type Decl = { kind: 'source'; name: Ident; ast: SourceAst } | { kind: 'region'; name: Ident; ast: RegionAst };

export interface PolicyIndex {
  ast: PolicyAst;
  /** First declaration of each name (sources and regions share one namespace). */
  decls: Map<string, Decl>;
  /** Every use of a name as a value or a `copy` source, in text order. */
  uses: Ident[];
}

export interface DocumentState {
  file: string;
  text: string;
  version: number;
  analysis: Analysis;
  policies: PolicyIndex[];
  /** The checked program of the last version without errors (hovers keep working while the user types). */
  lastGood?: ProgramIR;
}

/** Name uses inside a handler body: `copy <name>`, `<name>.size`, a bare `<name>`. Walks any node shape, so new statements are covered. */
function collectUses(node: unknown, out: Ident[]): void {
  if (Array.isArray(node)) {
    for (const n of node) collectUses(n, out);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  if (o['kind'] === 'copy' && isIdent(o['source'])) out.push(o['source']);
  if (o['kind'] === 'member' && isIdent(o['object'])) out.push(o['object']);
  if (o['kind'] === 'name' && isIdent(o['name'])) out.push(o['name']);
  for (const [k, v] of Object.entries(o)) {
    if (k === 'span' || k.endsWith('Span')) continue;
    if (typeof v === 'object' && v !== null) collectUses(v, out);
  }
}

function isIdent(x: unknown): x is Ident {
  return typeof x === 'object' && x !== null && typeof (x as Ident).name === 'string' && typeof (x as Ident).span === 'object';
}

function indexPolicy(p: PolicyAst): PolicyIndex {
  const decls = new Map<string, Decl>();
  const items: Decl[] = [
    ...p.sources.map((ast): Decl => ({ kind: 'source', name: ast.name, ast })),
    ...p.regions.map((ast): Decl => ({ kind: 'region', name: ast.name, ast })),
  ].sort((a, b) => a.name.span.startOffset - b.name.span.startOffset);
  for (const d of items) if (d.name.name !== '' && !decls.has(d.name.name)) decls.set(d.name.name, d);
  const uses: Ident[] = [];
  for (const r of p.regions) {
    collectUses(r.size, uses);
    if (r.at) collectUses(r.at, uses);
    if (r.image) uses.push(r.image.source);
    collectUses(r.handlers, uses);
  }
  uses.sort((a, b) => a.span.startOffset - b.span.startOffset);
  return { ast: p, decls, uses };
}

export function analyze(file: string, text: string, version: number, previous?: DocumentState): DocumentState {
  const analysis = analyzeSource(text, file);
  const state: DocumentState = { file, text, version, analysis, policies: analysis.ast.policies.map(indexPolicy) };
  const good = analysis.result.ok ? analysis.result.value : previous?.lastGood;
  if (good) state.lastGood = good;
  return state;
}

export function contains(span: Span, offset: number): boolean {
  return span.startOffset <= offset && offset <= span.endOffset;
}

export function policyAt(doc: DocumentState, offset: number): PolicyIndex | undefined {
  return doc.policies.find((p) => contains(p.ast.span, offset));
}

/** The token under the cursor: the one holding `offset`, or the one ending right at it. */
export function tokenAt(tokens: IToken[], offset: number): IToken | undefined {
  let lo = 0;
  let hi = tokens.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const t = tokens[mid]!;
    if (t.startOffset + t.image.length < offset) lo = mid + 1;
    else if (t.startOffset > offset) hi = mid - 1;
    else {
      // Prefer the token starting at `offset` over the one ending there.
      const next = tokens[mid + 1];
      if (t.startOffset + t.image.length === offset && next && next.startOffset === offset) return next;
      return t;
    }
  }
  return undefined;
}

/** The declaration a name at `offset` refers to (or is), and the policy it belongs to. */
export function declAt(doc: DocumentState, offset: number): { policy: PolicyIndex; decl: Decl; at: Ident } | undefined {
  const policy = policyAt(doc, offset);
  if (!policy) return undefined;
  for (const d of policy.decls.values()) if (contains(d.name.span, offset)) return { policy, decl: d, at: d.name };
  for (const u of policy.uses) {
    if (!contains(u.span, offset)) continue;
    const d = policy.decls.get(u.name);
    return d ? { policy, decl: d, at: u } : undefined;
  }
  return undefined;
}

/** Every place a declaration's name appears: the declaration first, then its uses. */
export function referencesOf(policy: PolicyIndex, decl: Decl): Ident[] {
  return [decl.name, ...policy.uses.filter((u) => u.name === decl.name.name)];
}
