// Expressions from syntax to IR: names resolved (`<region>.size` becomes a
// constant, `<source>.size` a load-time value), units applied, and the
// constant-only contexts (region size and address) enforced.
import type { ExprAst } from '../grammar/ast.js';
import { diag } from '../base/codes.js';
import type { Diagnostic } from '../base/diagnostic.js';
import type { Expr } from './ir.js';
import type { PolicyScope } from './resolve.js';
import { literalValue } from './units.js';
import { sizeUnit } from '../base/units.js';
import { suggesting } from '../base/suggest.js';

export interface ExprContext {
  scope: PolicyScope;
  /** Known region sizes by name; a region absent here has no size yet (or an invalid one). */
  regionSizes: Map<string, bigint>;
  /** Regions whose size failed to check: their `.size` is silently unknown (already reported). */
  badRegions: Set<string>;
  /** Regions sized by their image at load time: no `.size` here (PFP4020). */
  imageRegions?: Set<string>;
  /** What `copy <source>` copies from without `at`: `offset`, or `address` in a region taken from an image. */
  copyAt?: 'offset' | 'address';
  /** Set when lowering a region's size or address: no fault values, no source sizes. */
  constantFor?: 'size' | 'address';
  /** Sources named anywhere, for the unused-source warning. */
  usedSources: Set<number>;
  /** Sets tested anywhere, for the unused-set warning. */
  usedSets?: Set<number>;
  /** Names used but not declared: while there are any, no source is called unused (it may be the one misspelt). */
  unknownNames: Set<string>;
  out: Diagnostic[];
}

export function lowerExpr(e: ExprAst, ctx: ExprContext): Expr | undefined {
  switch (e.kind) {
    case 'error':
      return undefined;
    case 'int': {
      const v = literalValue(e, ctx.out);
      if (v === undefined) return undefined;
      return e.unit === undefined ? { kind: 'const', value: v, span: e.span } : { kind: 'const', value: v, unit: e.unit.name, span: e.span };
    }
    case 'var':
      if (ctx.constantFor) {
        ctx.out.push(diag('notConstant', e.span, { what: ctx.constantFor }));
        return undefined;
      }
      return { kind: 'var', name: e.name, span: e.span };
    case 'name': {
      // A declared name needs `.size`; an undeclared one is simply unknown.
      const named = ctx.scope.names.get(e.name.name);
      if (named?.kind === 'set') {
        ctx.usedSets?.add(named.index); // misused, not unused: one message is enough
        ctx.out.push(diag('setNotValue', e.span, { name: e.name.name }));
      }
      else if (ctx.scope.names.has(e.name.name)) ctx.out.push(diag('nameNotValue', e.span, { name: e.name.name }));
      else {
        ctx.unknownNames.add(e.name.name);
        ctx.out.push(suggesting(diag('unknownName', e.span, { name: e.name.name, policy: ctx.scope.ast.name.name }), e.name.name, ctx.scope.names.keys()));
      }
      return undefined;
    }
    case 'member':
      return lowerMember(e, ctx);
    case 'not': {
      const operand = lowerExpr(e.operand, ctx);
      return operand === undefined ? undefined : { kind: 'not', operand, span: e.span };
    }
    case 'binary': {
      if (e.op === 'in') return lowerIn(e, ctx);
      if (isComparison(e.op)) warnPageVersusBytes(e.left, e.right, ctx);
      const left = lowerExpr(e.left, ctx);
      const right = lowerExpr(e.right, ctx);
      if (left === undefined || right === undefined) return undefined;
      return { kind: 'binary', op: e.op, left, right, span: e.span };
    }
  }
}

/** `<page> in <set>`: the right side names a declared set. */
function lowerIn(e: Extract<ExprAst, { kind: 'binary' }>, ctx: ExprContext): Expr | undefined {
  const b = e.right.kind === 'name' ? ctx.scope.names.get(e.right.name.name) : undefined;
  if (e.right.kind === 'name' && b === undefined) {
    ctx.unknownNames.add(e.right.name.name);
    const sets = ctx.scope.sets.map((s) => s.name.name);
    ctx.out.push(suggesting(diag('inNeedsSet', e.right.span, {}, `no set named \`${e.right.name.name}\` in policy \`${ctx.scope.ast.name.name}\`; declare it: set ${e.right.name.name}`), e.right.name.name, sets));
    lowerExpr(e.left, ctx);
    return undefined;
  }
  if (b === undefined || b.kind !== 'set') {
    ctx.out.push(diag('inNeedsSet', e.right.span));
    lowerExpr(e.left, ctx);
    return undefined;
  }
  if (ctx.constantFor) {
    ctx.out.push(diag('notConstant', e.span, { what: ctx.constantFor }));
    return undefined;
  }
  ctx.usedSets?.add(b.index);
  const page = lowerExpr(e.left, ctx);
  return page === undefined ? undefined : { kind: 'inSet', set: b.index, page, span: e.span };
}

function lowerMember(e: Extract<ExprAst, { kind: 'member' }>, ctx: ExprContext): Expr | undefined {
  const policy = ctx.scope.ast.name.name;
  const b = ctx.scope.names.get(e.object.name);
  if (b === undefined) {
    ctx.unknownNames.add(e.object.name);
    ctx.out.push(suggesting(diag('unknownName', e.object.span, { name: e.object.name, policy }), e.object.name, ctx.scope.names.keys()));
    return undefined;
  }
  if (b.kind === 'set') {
    ctx.usedSets?.add(b.index);
    ctx.out.push(diag('setNotValue', e.span, { name: e.object.name }));
    return undefined;
  }
  if (e.property.name !== 'size') {
    ctx.out.push(diag('unknownProperty', e.property.span, { object: e.object.name, property: e.property.name }));
    return undefined;
  }
  if (b.kind === 'source') {
    ctx.usedSources.add(b.index);
    if (ctx.constantFor) {
      ctx.out.push(diag('sourceSizeInLayout', e.span, { name: e.object.name }));
      return undefined;
    }
    return { kind: 'sourceSize', source: b.index, span: e.span };
  }
  const size = ctx.regionSizes.get(e.object.name);
  if (size === undefined && ctx.imageRegions?.has(e.object.name)) {
    ctx.out.push(diag('imageRegionSize', e.span, { name: e.object.name }));
    return undefined;
  }
  if (size === undefined) {
    if (!ctx.badRegions.has(e.object.name)) ctx.out.push(diag('sizeNotKnownHere', e.span, { name: e.object.name }));
    return undefined;
  }
  return { kind: 'const', value: size, unit: sizeUnit(size), span: e.span };
}

function isComparison(op: string): boolean {
  return op === '<' || op === '<=' || op === '>' || op === '>=' || op === '==' || op === '!=';
}

/** `page < 64 KiB` compares a page number with bytes: almost always meant `offset`. */
function warnPageVersusBytes(left: ExprAst, right: ExprAst, ctx: ExprContext): void {
  const sized = (x: ExprAst): x is Extract<ExprAst, { kind: 'int' }> => x.kind === 'int' && x.unit !== undefined;
  const isPage = (x: ExprAst): boolean => x.kind === 'var' && x.name === 'page';
  if (isPage(left) && sized(right)) ctx.out.push(diag('pageComparedWithBytes', right.span, { other: '`' + right.literal.text + ' ' + right.unit!.name + '`' }));
  else if (isPage(right) && sized(left)) ctx.out.push(diag('pageComparedWithBytes', left.span, { other: '`' + left.literal.text + ' ' + left.unit!.name + '`' }));
}
