// Building the AST from tokens, called from the parser's actions: spans for
// every node, operator precedence for expressions, and the bounds on nesting.
// The parser builds the tree as it goes (no concrete syntax tree in between:
// that halves parsing time on large policies). Error recovery can hand over
// inserted tokens (no position) or no result at all; every builder here
// accepts those, and with syntax errors the tree is best-effort only: the
// compiler never checks a tree that had syntax errors.
import type { IToken } from 'chevrotain';
import type { Span } from '../base/span.js';
import type { Diagnostic } from '../base/diagnostic.js';
import { diag } from '../base/codes.js';
import { MAX_EXPR_DEPTH, MAX_NESTING } from '../base/limits.js';
import type { AstBinaryOp, ExprAst, FileAst, HandlerAst, Ident, IntLit, PolicyAst, RegionAst, SetAst, SourceAst, StmtAst } from './ast.js';
import { decodeString, tokenSpanEnd } from './lex.js';
import { type SourceText, joinSpans } from '../base/source-text.js';

/** Branches of `if`/`else if` nested in one handler: bounds the checker's recursion. */
export const MAX_BRANCH_DEPTH = MAX_NESTING * 4;

/** Binding strength of each binary operator; `not` sits between `and` and the comparisons. */
const PRECEDENCE: Record<string, number> = {
  or: 1,
  and: 2,
  '<': 4, '<=': 4, '>': 4, '>=': 4, '==': 4, '!=': 4, in: 4,
  '|': 5,
  '&': 6,
  '<<': 7, '>>': 7,
  '+': 8, '-': 8,
  '*': 9, '/': 9, '%': 9,
};
const NOT_PREC = 3;
const COMPARISON_PREC = 4;

/** An expression under construction: its depth in operators, and whether it is in brackets. */
export interface Val {
  e: ExprAst;
  d: number;
  bracketed: boolean;
}

/** One operand of a flat expression: the operator before it (none for the first), its `not`s, the primary. */
export interface OperandItem {
  op?: IToken;
  nots: readonly IToken[];
  prim: Val | undefined;
}

/** Statements of a block and how many branches deep they nest. */
export interface BlockVal {
  stmts: StmtAst[];
  span: Span;
  depth: number;
}

/** `in <source> ...` of a region taken from an image, as the parser saw it. */
export interface ImageHead {
  inKw: IToken;
  source: IToken;
  name?: IToken;
  word?: IToken;
}

export interface StmtVal {
  stmt: StmtAst;
  depth: number;
}

export interface IfLink {
  ifTok: IToken;
  cond: Val | undefined;
  block: BlockVal | undefined;
  elseTok?: IToken;
}

type Piece = Span | IToken | undefined;

/** A token that came from the text (not inserted by error recovery). */
function real(t: IToken | undefined): t is IToken {
  return t !== undefined && t.isInsertedInRecovery !== true && Number.isFinite(t.startOffset);
}

function isBareComparison(v: Val): boolean {
  return v.e.kind === 'binary' && PRECEDENCE[v.e.op] === COMPARISON_PREC && !v.bracketed;
}

export class AstBuilder {
  readonly diagnostics: Diagnostic[] = [];
  private reportedExprDepth = false;
  private reportedBranchDepth = false;

  constructor(readonly src: SourceText) {}

  // ---- spans ----

  tspan(t: IToken): Span {
    return this.src.span(t.startOffset, tokenSpanEnd(t));
  }

  /** Span from the first to the last of whatever pieces exist; a zero-width span at `fallback` otherwise. */
  cover(pieces: Piece[], fallback: number): Span {
    let start = Infinity;
    let end = -Infinity;
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i];
      if (p === undefined) continue;
      let s: number;
      let e: number;
      if ('image' in p) {
        if (!real(p)) continue;
        s = p.startOffset;
        e = tokenSpanEnd(p);
      } else {
        s = p.startOffset;
        e = p.endOffset;
      }
      if (s < start) start = s;
      if (e > end) end = e;
    }
    if (start === Infinity) return this.src.span(fallback, fallback);
    return this.src.span(start, end);
  }

  at(t: IToken | undefined): number {
    return real(t) ? t.startOffset : this.src.text.length;
  }

  ident(t: IToken | undefined, fallback: number): Ident {
    if (!real(t)) return { name: '', span: this.src.span(fallback, fallback) };
    return { name: t.image, span: this.tspan(t) };
  }

  // ---- declarations ----

  file(policies: (PolicyAst | undefined)[]): FileAst {
    return { file: this.src.file, policies: policies.filter((p): p is PolicyAst => p !== undefined), span: this.src.span(0, this.src.text.length) };
  }

  policy(kw: IToken, name: IToken, sources: (SourceAst | undefined)[], regions: (RegionAst | undefined)[], close: IToken, sets: (SetAst | undefined)[] = []): PolicyAst {
    const at = this.at(kw);
    const rs = regions.filter((r): r is RegionAst => r !== undefined);
    const ss = sources.filter((s): s is SourceAst => s !== undefined);
    const sts = sets.filter((s): s is SetAst => s !== undefined);
    const last = rs.at(-1)?.span ?? ss.at(-1)?.span;
    const p: PolicyAst = { name: this.ident(name, at), sources: ss, regions: rs, span: this.cover([kw, close, last], at) };
    if (sts.length > 0) p.sets = sts;
    return p;
  }

  setDecl(kw: IToken, name: IToken): SetAst {
    const at = this.at(kw);
    return { name: this.ident(name, at), span: this.cover([kw, name], at) };
  }

  source(kw: IToken, name: IToken, kind: IToken, str: IToken): SourceAst {
    const at = this.at(kw);
    const path = real(str) ? { value: decodeString(str, this.src, []), span: this.tspan(str) } : { value: '', span: this.src.span(at, at) };
    return { name: this.ident(name, at), kind: this.ident(kind, at), path, span: this.cover([kw, str, kind], at) };
  }

  region(kw: IToken, name: IToken, size: Val | undefined, atExpr: Val | undefined, handlers: (HandlerAst | undefined)[], close: IToken, image?: ImageHead): RegionAst {
    const at = this.at(kw);
    const sizeE = size?.e ?? (image ? undefined : this.errorExpr(at));
    const r: RegionAst = {
      name: this.ident(name, at),
      handlers: handlers.filter((h): h is HandlerAst => h !== undefined),
      span: this.cover([kw, close, sizeE?.span], at),
    };
    if (sizeE) r.size = sizeE;
    if (atExpr) r.at = atExpr.e;
    if (image) {
      const head = this.at(image.inKw);
      r.image = { source: this.ident(image.source, head), span: this.cover([image.inKw, image.source, image.name, image.word, sizeE?.span], head) };
      if (image.name && real(image.name)) r.image.name = { value: decodeString(image.name, this.src, []), span: this.tspan(image.name) };
      if (image.word) r.image.word = this.ident(image.word, head);
    }
    return r;
  }

  handler(kw: IToken, name: IToken, block: BlockVal | undefined): HandlerAst {
    const at = this.at(kw);
    const headSpan = this.cover([kw, name], at);
    return { name: this.ident(name, at), body: block?.stmts ?? [], headSpan, span: this.cover([headSpan, block?.span], at) };
  }

  // ---- statements ----

  block(open: IToken, stmts: (StmtVal | undefined)[], close: IToken): BlockVal {
    const list: StmtAst[] = [];
    let depth = 0;
    for (let i = 0; i < stmts.length; i++) {
      const s = stmts[i];
      if (s === undefined) continue;
      list.push(s.stmt);
      if (s.depth > depth) depth = s.depth;
    }
    return { stmts: list, span: this.cover([open, close, list[0]?.span, list.at(-1)?.span], this.at(open)), depth };
  }

  simple(kind: 'zero' | 'sigbus' | 'defer' | 'notify', t: IToken): StmtVal {
    return { stmt: { kind, span: this.cover([t], this.at(t)) }, depth: 0 };
  }

  trackDirty(track: IToken, dirty: IToken): StmtVal {
    return { stmt: { kind: 'trackDirty', span: this.cover([track, dirty], this.at(track)) }, depth: 0 };
  }

  fill(kw: IToken, value: Val | undefined): StmtVal {
    const v = value?.e ?? this.errorExpr(this.at(kw));
    return { stmt: { kind: 'fill', value: v, span: this.cover([kw, v.span], this.at(kw)) }, depth: 0 };
  }

  copy(kw: IToken, source: IToken, atExpr: Val | undefined): StmtVal {
    const at = this.at(kw);
    const stmt: StmtAst = { kind: 'copy', source: this.ident(source, at), span: this.cover([kw, source, atExpr?.e.span], at) };
    if (atExpr) stmt.at = atExpr.e;
    return { stmt, depth: 0 };
  }

  prefetch(kw: IToken, count: IToken, unit: IToken | undefined, direction: IToken | undefined): StmtVal {
    const at = this.at(kw);
    const stmt: StmtAst = { kind: 'prefetch', count: this.intLit(count, at), span: this.cover([kw, count, unit, direction], at) };
    if (real(direction)) stmt.direction = this.ident(direction, at);
    return { stmt, depth: 0 };
  }

  prefetchBlock(kw: IToken, block: IToken, count: IToken, unit: IToken): StmtVal {
    const at = this.at(kw);
    const stmt: StmtAst = {
      kind: 'prefetch',
      count: this.intLit(count, at),
      block: { unit: this.ident(unit, at), span: this.cover([block, count, unit], at) },
      span: this.cover([kw, block, count, unit], at),
    };
    return { stmt, depth: 0 };
  }

  /** `if` with its `else if` links and final `else`, nested from the end so each link sits in the one before. */
  ifChain(links: IfLink[], elseTok: IToken | undefined, elseBlock: BlockVal | undefined): StmtVal | undefined {
    const usable = links.filter((l) => real(l.ifTok));
    if (usable.length === 0) return undefined;
    let depth = usable.length + (elseBlock?.depth ?? 0);
    usable.forEach((l, i) => {
      depth = Math.max(depth, i + 1 + (l.block?.depth ?? 0));
    });
    if (depth > MAX_BRANCH_DEPTH) {
      if (!this.reportedBranchDepth) {
        this.diagnostics.push(diag('nestingTooDeep', this.tspan(usable[0]!.ifTok), { limit: MAX_BRANCH_DEPTH }));
        this.reportedBranchDepth = true;
      }
      return undefined;
    }
    let tail: { stmts: StmtAst[]; span: Span } | undefined = elseBlock
      ? { stmts: elseBlock.stmts, span: this.cover([elseTok, elseBlock.span], elseBlock.span.startOffset) }
      : undefined;
    let result: StmtAst | undefined;
    for (let i = usable.length - 1; i >= 0; i--) {
      const link = usable[i]!;
      const at = link.ifTok.startOffset;
      const cond = link.cond?.e ?? this.errorExpr(tokenSpanEnd(link.ifTok));
      const thenSpan = link.block?.span ?? this.src.span(at, at);
      const stmt: StmtAst = {
        kind: 'if',
        cond,
        then: link.block?.stmts ?? [],
        thenSpan,
        span: this.cover([link.ifTok, tail ? tail.span : thenSpan], at),
      };
      if (tail) {
        stmt.else = tail.stmts;
        stmt.elseSpan = tail.span;
      }
      result = stmt;
      tail = { stmts: [stmt], span: this.cover([link.elseTok, stmt.span], stmt.span.startOffset) };
    }
    return result ? { stmt: result, depth } : undefined;
  }

  intLit(t: IToken | undefined, fallback: number): IntLit {
    if (!real(t)) return { value: 0n, text: '', span: this.src.span(fallback, fallback) };
    let value = 0n;
    try {
      value = BigInt(t.image.includes('_') ? t.image.replace(/_/g, '') : t.image);
    } catch {
      value = 0n; // malformed: already reported by the lexer
    }
    return { value, text: t.image, span: this.tspan(t) };
  }

  // ---- expressions ----

  errorExpr(at: number): ExprAst {
    return { kind: 'error', span: this.src.span(at, at) };
  }

  private errorVal(at: number): Val {
    return { e: this.errorExpr(at), d: 0, bracketed: false };
  }

  private tooDeep(opTok: IToken, span: Span): Val {
    if (!this.reportedExprDepth) {
      this.diagnostics.push(diag('expressionTooDeep', this.tspan(opTok), { limit: MAX_EXPR_DEPTH }));
      this.reportedExprDepth = true;
    }
    return { e: { kind: 'error', span }, d: 0, bracketed: false };
  }

  private binary(opTok: IToken, left: Val, right: Val): Val {
    const d = Math.max(left.d, right.d) + 1;
    const span = joinSpans(left.e.span, right.e.span);
    if (d > MAX_EXPR_DEPTH) return this.tooDeep(opTok, span);
    const e: ExprAst = { kind: 'binary', op: opTok.image as AstBinaryOp, left: left.e, right: right.e, opSpan: this.tspan(opTok), span };
    return { e, d, bracketed: false };
  }

  private not(notTok: IToken, operand: Val): Val {
    const span = joinSpans(this.tspan(notTok), operand.e.span);
    if (operand.d + 1 > MAX_EXPR_DEPTH) return this.tooDeep(notTok, span);
    return { e: { kind: 'not', operand: operand.e, span }, d: operand.d + 1, bracketed: false };
  }

  /**
   * A flat `operand (op operand)*` to a tree, by operator precedence (see the
   * table in grammar/parser.ts). Iterative, so long chains cannot exhaust the stack.
   */
  expression(items: OperandItem[], fallback: number): Val {
    // Most expressions are one operand (`offset`, `64 KiB`): nothing to order.
    const only = items.length === 1 ? items[0]! : undefined;
    if (only && only.op === undefined && only.nots.length === 0) return only.prim ?? this.errorVal(fallback);
    const values: Val[] = [];
    const stack: ({ not: IToken } | { op: IToken; prec: number })[] = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (item.op !== undefined) {
        if (!real(item.op)) continue;
        const prec = PRECEDENCE[item.op.image] ?? 0;
        while (stack.length > 0) {
          const top = stack[stack.length - 1]!;
          if (('not' in top ? NOT_PREC : top.prec) < prec) break;
          this.reduce(values, stack, fallback);
        }
        stack.push({ op: item.op, prec });
      }
      for (let k = 0; k < item.nots.length; k++) {
        const t = item.nots[k]!;
        if (real(t)) stack.push({ not: t });
      }
      values.push(item.prim ?? this.errorVal(item.op && real(item.op) ? tokenSpanEnd(item.op) : fallback));
    }
    while (stack.length > 0) this.reduce(values, stack, fallback);
    return values[0] ?? this.errorVal(fallback);
  }

  /** Applies the operator on top of `stack` to the values on top of `values`. */
  private reduce(values: Val[], stack: ({ not: IToken } | { op: IToken; prec: number })[], fallback: number): void {
    const top = stack.pop()!;
    if ('not' in top) {
      values.push(this.not(top.not, values.pop() ?? this.errorVal(fallback)));
      return;
    }
    const right = values.pop() ?? this.errorVal(fallback);
    const left = values.pop() ?? this.errorVal(fallback);
    if (top.prec === COMPARISON_PREC && (isBareComparison(left) || isBareComparison(right))) {
      this.diagnostics.push(diag('chainedComparison', this.tspan(top.op)));
    }
    values.push(this.binary(top.op, left, right));
  }

  private leaf(e: ExprAst): Val {
    return { e, d: 0, bracketed: false };
  }

  /** A number with an optional unit word (known or not: units are checked by the compiler). */
  number(int: IToken, unit: IToken | undefined): Val {
    const literal = this.intLit(int, this.at(int));
    const e: ExprAst = { kind: 'int', literal, span: literal.span };
    if (real(unit)) {
      e.unit = { name: unit.image, span: this.tspan(unit) };
      e.span = joinSpans(literal.span, e.unit.span);
    }
    return this.leaf(e);
  }

  variable(t: IToken): Val {
    if (!real(t)) return this.errorVal(this.at(t));
    return this.leaf({ kind: 'var', name: t.image as 'offset' | 'page' | 'address' | 'read' | 'write', span: this.tspan(t) });
  }

  name(obj: IToken, prop: IToken | undefined): Val {
    const at = this.at(obj);
    const object = this.ident(obj, at);
    if (prop !== undefined && real(prop)) return this.leaf({ kind: 'member', object, property: this.ident(prop, at), span: this.cover([obj, prop], at) });
    return this.leaf({ kind: 'name', name: object, span: object.span });
  }

  /** Brackets widen the span (messages underline what the user bracketed) but add no node. */
  bracketed(open: IToken, inner: Val | undefined, close: IToken): Val {
    const at = this.at(open);
    const v = inner ?? this.errorVal(at);
    const e = { ...v.e, span: this.cover([open, close, v.e.span], at) } as ExprAst;
    return { e, d: v.d, bracketed: true };
  }
}
