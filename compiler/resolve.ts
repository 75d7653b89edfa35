// Names: policies, sources and regions, duplicates, handlers, and the limits
// on how many of each. Sources and regions share one namespace per policy so
// `<name>.size` is never ambiguous.
import type { FileAst, HandlerAst, PolicyAst, RegionAst, SetAst, SourceAst } from '../grammar/ast.js';
import { diag, withRelated } from '../base/codes.js';
import type { Diagnostic } from '../base/diagnostic.js';
import { HANDLERS, SOURCE_KINDS, type Handler, type SourceKind } from './ir.js';
import { MAX_REGIONS, MAX_SETS, MAX_SOURCES } from '../base/limits.js';
import { suggesting } from '../base/suggest.js';

export type Binding =
  | { kind: 'source'; index: number; ast: SourceAst }
  | { kind: 'region'; index: number; ast: RegionAst }
  | { kind: 'set'; index: number; ast: SetAst };

export interface PolicyScope {
  ast: PolicyAst;
  names: Map<string, Binding>;
  /** Sources kept (duplicates dropped), in declaration order; index = position. */
  sources: SourceAst[];
  regions: RegionAst[];
  /** Sets kept, in declaration order; index = position. */
  sets: SetAst[];
  /** Per kept region, its handlers by name (duplicates and unknown names dropped). */
  handlers: Map<RegionAst, Map<Handler, HandlerAst>>;
}

export function resolveFile(file: FileAst, out: Diagnostic[]): PolicyScope[] {
  if (file.policies.length === 0) {
    out.push(diag('noPolicies', { ...file.span, endLine: file.span.startLine, endColumn: file.span.startColumn, endOffset: file.span.startOffset }));
    return [];
  }
  const seen = new Map<string, PolicyAst>();
  const scopes: PolicyScope[] = [];
  for (const p of file.policies) {
    const first = seen.get(p.name.name);
    if (first) {
      out.push(withRelated(diag('duplicatePolicy', p.name.span, { name: p.name.name, line: first.name.span.startLine }), first.name.span, 'first declared here'));
      continue;
    }
    seen.set(p.name.name, p);
    scopes.push(resolvePolicy(p, out));
  }
  return scopes;
}

function resolvePolicy(p: PolicyAst, out: Diagnostic[]): PolicyScope {
  const names = new Map<string, Binding>();
  const scope: PolicyScope = { ast: p, names, sources: [], regions: [], sets: [], handlers: new Map() };
  // Sources, regions and sets in text order, so "first declared" means first in the file.
  const items: ({ kind: 'source'; ast: SourceAst } | { kind: 'region'; ast: RegionAst } | { kind: 'set'; ast: SetAst })[] = [
    ...p.sources.map((ast) => ({ kind: 'source' as const, ast })),
    ...p.regions.map((ast) => ({ kind: 'region' as const, ast })),
    ...(p.sets ?? []).map((ast) => ({ kind: 'set' as const, ast })),
  ].sort((a, b) => a.ast.span.startOffset - b.ast.span.startOffset);

  for (const item of items) {
    const name = item.ast.name;
    const prev = names.get(name.name);
    if (prev) {
      out.push(withRelated(diag('duplicateName', name.span, { name: name.name, policy: p.name.name, line: prev.ast.name.span.startLine }), prev.ast.name.span, 'first declared here'));
      continue;
    }
    if (item.kind === 'set') {
      if (scope.sets.length === MAX_SETS) {
        out.push(diag('tooManySets', name.span, { policy: p.name.name, limit: MAX_SETS }));
        continue;
      }
      names.set(name.name, { kind: 'set', index: scope.sets.length, ast: item.ast });
      scope.sets.push(item.ast);
    } else if (item.kind === 'source') {
      if (!SOURCE_KINDS.includes(item.ast.kind.name as SourceKind)) {
        out.push(suggesting(diag('unknownSourceKind', item.ast.kind.span, { kind: item.ast.kind.name }), item.ast.kind.name, [...SOURCE_KINDS]));
      }
      if (scope.sources.length === MAX_SOURCES) {
        out.push(diag('tooManySources', name.span, { policy: p.name.name, limit: MAX_SOURCES }));
        continue;
      }
      names.set(name.name, { kind: 'source', index: scope.sources.length, ast: item.ast });
      scope.sources.push(item.ast);
    } else {
      if (scope.regions.length === MAX_REGIONS) {
        out.push(diag('tooManyRegions', name.span, { policy: p.name.name, limit: MAX_REGIONS }));
        continue;
      }
      names.set(name.name, { kind: 'region', index: scope.regions.length, ast: item.ast });
      scope.regions.push(item.ast);
      scope.handlers.set(item.ast, resolveHandlers(item.ast, out));
    }
  }
  if (p.regions.length === 0) out.push(diag('noRegions', p.name.span, { policy: p.name.name }));
  return scope;
}

function resolveHandlers(r: RegionAst, out: Diagnostic[]): Map<Handler, HandlerAst> {
  const byName = new Map<Handler, HandlerAst>();
  for (const h of r.handlers) {
    const name = h.name.name;
    if (name !== 'missing' && name !== 'write') {
      out.push(suggesting(diag('unknownHandler', h.name.span, { handler: name }), name, HANDLERS));
      continue;
    }
    const prev = byName.get(name);
    if (prev) {
      out.push(withRelated(diag('duplicateHandler', h.headSpan, { region: r.name.name, handler: name, line: prev.headSpan.startLine }), prev.headSpan, 'first handler'));
      continue;
    }
    byName.set(name, h);
  }
  return byName;
}
