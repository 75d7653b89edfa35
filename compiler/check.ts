// The passes in order, from a syntax tree to the checked IR:
//   resolve (names) -> layout (sizes, addresses, overlaps) -> source paths ->
//   handlers (statements, operands, paths) -> unused sources -> engines.
// Any error anywhere means no IR: a policy is either wholly checked or rejected.
import type { FileAst } from '../grammar/ast.js';
import { checkHandler } from './check-handlers.js';
import { diag } from '../base/codes.js';
import type { Diagnostic } from '../base/diagnostic.js';
import { enginesFor } from './engines.js';
import type { PolicyIR, RegionIR, SourceIR } from './ir.js';
import { checkImagePolicy, imageOf } from './image-regions.js';
import { layoutRegions } from './layout.js';
import type { ExprContext } from './lower-expr.js';
import { resolveSourcePath } from './paths.js';
import { checkHttpUrl } from './source-url.js';
import { resolveFile, type PolicyScope } from './resolve.js';

export function checkAst(file: FileAst, out: Diagnostic[]): PolicyIR[] {
  const scopes = resolveFile(file, out);
  return scopes.map((scope) => checkPolicy(scope, file.file, out));
}

function checkPolicy(scope: PolicyScope, pfpFile: string, out: Diagnostic[]): PolicyIR {
  const ctx: ExprContext = { scope, regionSizes: new Map(), badRegions: new Set(), usedSources: new Set(), usedSets: new Set(), unknownNames: new Set(), out };
  ctx.imageRegions = new Set(scope.regions.filter((r) => r.image && !r.size).map((r) => r.name.name));
  const layouts = layoutRegions(scope.regions, ctx);

  const sources: SourceIR[] = scope.sources.map((s, index) => ({
    id: s.name.name,
    index,
    ...(s.kind.name === 'http' ? { kind: 'http' as const } : s.kind.name === 'criu' ? { kind: 'criu' as const } : {}),
    path: s.path.value,
    resolvedPath: (s.kind.name === 'http' ? checkHttpUrl(s, out) : resolveSourcePath(s, pfpFile, out)) ?? '',
    span: s.span,
  }));

  const regions: RegionIR[] = scope.regions.map((r, index) => {
    const layout = layouts.get(r);
    const ir: RegionIR = { id: r.name.name, index, size: layout?.size ?? 0n, span: r.span };
    if (layout?.at !== undefined) ir.at = layout.at;
    if (r.image) {
      const image = imageOf(r, layout, ctx);
      if (image) ir.image = image;
    }
    const handlers = scope.handlers.get(r);
    const missing = handlers?.get('missing');
    const write = handlers?.get('write');
    ctx.copyAt = r.image ? 'address' : 'offset';
    if (missing) ir.onMissing = checkHandler(missing, 'missing', r.name.name, ctx);
    if (write) ir.onWrite = checkHandler(write, 'write', r.name.name, ctx);
    return ir;
  });
  checkImagePolicy(
    scope.regions.map((ast, i) => {
      const writeHead = scope.handlers.get(ast)?.get('write')?.headSpan;
      return { ast, ir: regions[i]!, ...(writeHead ? { writeHead } : {}) };
    }),
    ctx,
    out,
  );

  scope.sources.forEach((s, index) => {
    if (!ctx.usedSources.has(index) && ctx.unknownNames.size === 0) out.push(diag('unusedSource', s.name.span, { name: s.name.name }));
  });

  scope.sets.forEach((s, index) => {
    if (!ctx.usedSets?.has(index)) out.push(diag('unusedSet', s.name.span, { name: s.name.name }));
  });

  const policy: Omit<PolicyIR, 'engines'> = { name: scope.ast.name.name, sources, regions, span: scope.ast.span };
  if (scope.sets.length > 0) policy.sets = scope.sets.map((s, index) => ({ id: s.name.name, index, span: s.span }));
  return { ...policy, engines: enginesFor(policy) };
}
