// CST -> AST. Tolerates the holes error recovery leaves (missing children,
// inserted tokens): with syntax errors the tree is best-effort and only used
// for tooling; the compiler never checks a tree that had syntax errors.
import type { CstNode, IToken } from 'chevrotain';
import type { Span } from '../compiler/ir.js';
import type { Diagnostic } from '../compiler/diagnostic.js';
import { diag } from '../compiler/codes.js';
import { MAX_EXPR_DEPTH, MAX_NESTING } from '../compiler/limits.js';
import type { AstBinaryOp, ExprAst, FileAst, HandlerAst, Ident, IntLit, PolicyAst, RegionAst, SourceAst, StmtAst } from './ast.js';
import { decodeString, tokenSpanEnd } from './lex.js';
import { SourceText, joinSpans } from './source-text.js';
import * as T from './tokens.js';

type Child = CstNode | IToken;

function isToken(c: Child): c is IToken {
  return (c as IToken).image !== undefined;
}

/** Branches of `if`/`else if` nested in one handler: bounds the checker's recursion. */
export const MAX_BRANCH_DEPTH = MAX_NESTING * 4;

/** Binding strength of each binary operator; `not` sits between `and` and the comparisons. */
const PRECEDENCE: Record<string, number> = {
  or: 1,
  and: 2,
  '<': 4, '<=': 4, '>': 4, '>=': 4, '==': 4, '!=': 4,
  '|': 5,
  '&': 6,
  '<<': 7, '>>': 7,
  '+': 8, '-': 8,
  '*': 9, '/': 9, '%': 9,
};
const NOT_PREC = 3;
const COMPARISON_PREC = 4;

class Builder {
  readonly diagnostics: Diagnostic[] = [];
  private reportedExprDepth = false;
  private reportedBranchDepth = false;

  constructor(private readonly src: SourceText) {}

  tok(node: CstNode | undefined, key: string, i = 0): IToken | undefined {
    const c = node?.children[key]?.[i];
    if (c === undefined || !isToken(c) || c.isInsertedInRecovery || !Number.isFinite(c.startOffset)) return undefined;
    return c;
  }

  toks(node: CstNode | undefined, key: string): IToken[] {
    const list = node?.children[key] ?? [];
    return list.filter((c): c is IToken => isToken(c) && !c.isInsertedInRecovery && Number.isFinite(c.startOffset));
  }

  node(node: CstNode | undefined, key: string, i = 0): CstNode | undefined {
    const c = node?.children[key]?.[i];
    return c !== undefined && !isToken(c) ? c : undefined;
  }

  nodes(node: CstNode | undefined, key: string): CstNode[] {
    return (node?.children[key] ?? []).filter((c): c is CstNode => !isToken(c));
  }

  tspan(t: IToken): Span {
    return this.src.span(t.startOffset, tokenSpanEnd(t));
  }

  /** Span from the first to the last of whatever pieces exist; a zero-width span at `fallback` otherwise. */
  cover(pieces: (Span | IToken | undefined)[], fallback: number): Span {
    let start = Infinity;
    let end = -Infinity;
    for (const p of pieces) {
      if (p === undefined) continue;
      const s = 'image' in p ? p.startOffset : p.startOffset;
      const e = 'image' in p ? tokenSpanEnd(p) : p.endOffset;
      if (s < start) start = s;
      if (e > end) end = e;
    }
    if (start === Infinity) return this.src.span(fallback, fallback);
    return this.src.span(start, end);
  }

  ident(t: IToken | undefined, fallback: number): Ident {
    if (t === undefined) return { name: '', span: this.src.span(fallback, fallback) };
    return { name: t.image, span: this.tspan(t) };
  }

  file(root: CstNode | undefined): FileAst {
    const policies = this.nodes(root, 'policy').map((p) => this.policy(p));
    return { file: this.src.file, policies, span: this.src.span(0, this.src.text.length) };
  }

  policy(n: CstNode): PolicyAst {
    const kw = this.tok(n, 'Policy');
    const at = kw?.startOffset ?? 0;
    const sources = this.nodes(n, 'source').map((s) => this.source(s));
    const regions = this.nodes(n, 'region').map((r) => this.region(r));
    const span = this.cover([kw, this.tok(n, 'RCurly'), ...sources.map((s) => s.span), ...regions.map((r) => r.span)], at);
    return { name: this.ident(this.tok(n, 'Identifier'), at), sources, regions, span };
  }

  source(n: CstNode): SourceAst {
    const kw = this.tok(n, 'Source');
    const at = kw?.startOffset ?? 0;
    const kindTok = this.tok(n, 'File') ?? this.tok(n, 'kind');
    const strTok = this.tok(n, 'StringLit');
    const path = strTok
      ? { value: decodeString(strTok, this.src, []), span: this.tspan(strTok) }
      : { value: '', span: this.src.span(at, at) };
    return {
      name: this.ident(this.tok(n, 'name'), at),
      kind: this.ident(kindTok, at),
      path,
      span: this.cover([kw, strTok, kindTok], at),
    };
  }

  region(n: CstNode): RegionAst {
    const kw = this.tok(n, 'Region');
    const at = kw?.startOffset ?? 0;
    const size = this.expr(this.node(n, 'size'), at);
    const atNode = this.node(n, 'at');
    const handlers = this.nodes(n, 'handler').map((h) => this.handler(h));
    const r: RegionAst = {
      name: this.ident(this.tok(n, 'Identifier'), at),
      size,
      handlers,
      span: this.cover([kw, this.tok(n, 'RCurly'), size.span], at),
    };
    if (atNode) r.at = this.expr(atNode, at);
    return r;
  }

  handler(n: CstNode): HandlerAst {
    const kw = this.tok(n, 'On');
    const at = kw?.startOffset ?? 0;
    const nameTok = this.tok(n, 'name');
    const block = this.node(n, 'block');
    const body = this.block(block, 1);
    const headSpan = this.cover([kw, nameTok], at);
    return { name: this.ident(nameTok, at), body: body.stmts, headSpan, span: this.cover([headSpan, body.span], at) };
  }

  /** Statements of a `{ ... }` block; `depth` counts enclosing branches. */
  block(n: CstNode | undefined, depth: number): { stmts: StmtAst[]; span: Span } {
    const open = this.tok(n, 'LCurly');
    const close = this.tok(n, 'RCurly');
    const at = open?.startOffset ?? 0;
    const stmts: StmtAst[] = [];
    for (const s of this.nodes(n, 'statement')) {
      const st = this.statement(s, depth);
      if (st) stmts.push(st);
    }
    return { stmts, span: this.cover([open, close, ...stmts.map((s) => s.span)], at) };
  }

  statement(n: CstNode, depth: number): StmtAst | undefined {
    const simple = (key: string, kind: 'zero' | 'sigbus' | 'defer' | 'notify'): StmtAst | undefined => {
      const t = this.tok(n, key);
      return t ? { kind, span: this.tspan(t) } : undefined;
    };
    const ifNode = this.node(n, 'ifStatement');
    if (ifNode) return this.ifStatement(ifNode, depth);
    const fill = this.tok(n, 'Fill');
    if (fill) {
      const value = this.expr(this.node(n, 'expression'), tokenSpanEnd(fill));
      return { kind: 'fill', value, span: joinSpans(this.tspan(fill), value.span) };
    }
    const copy = this.node(n, 'copyStatement');
    if (copy) return this.copy(copy);
    const pre = this.node(n, 'prefetchStatement');
    if (pre) return this.prefetch(pre);
    const track = this.tok(n, 'Track');
    if (track) return { kind: 'trackDirty', span: this.cover([track, this.tok(n, 'Dirty')], track.startOffset) };
    return simple('Zero', 'zero') ?? simple('Sigbus', 'sigbus') ?? simple('Defer', 'defer') ?? simple('Notify', 'notify');
  }

  ifStatement(n: CstNode, depth: number): StmtAst | undefined {
    const ifs = this.toks(n, 'If');
    const conds = this.nodes(n, 'expression');
    const blocks = this.nodes(n, 'block');
    const elseIfs = this.toks(n, 'elseIf');
    const finalElse = this.tok(n, 'Else');
    const links = Math.min(ifs.length, conds.length, blocks.length);
    if (links === 0) return undefined;
    if (depth + links > MAX_BRANCH_DEPTH) {
      if (!this.reportedBranchDepth) {
        this.diagnostics.push(diag('nestingTooDeep', this.tspan(ifs[0]!), { limit: MAX_BRANCH_DEPTH }));
        this.reportedBranchDepth = true;
      }
      return undefined;
    }
    const elseBlockNode = this.node(n, 'elseBlock');
    let tail: { stmts: StmtAst[]; span: Span } | undefined;
    if (elseBlockNode) {
      const b = this.block(elseBlockNode, depth + links);
      tail = { stmts: b.stmts, span: this.cover([finalElse, b.span], b.span.startOffset) };
    }
    // Build the `else if` chain from its end so each link nests in the one before.
    let result: StmtAst | undefined;
    for (let i = links - 1; i >= 0; i--) {
      const ifTok = ifs[i]!;
      const cond = this.expr(conds[i], tokenSpanEnd(ifTok));
      const then = this.block(blocks[i], depth + i + 1);
      const end = tail ? tail.span : then.span;
      const stmt: StmtAst = { kind: 'if', cond, then: then.stmts, thenSpan: then.span, span: this.cover([ifTok, end], ifTok.startOffset) };
      if (tail) {
        stmt.else = tail.stmts;
        stmt.elseSpan = tail.span;
      }
      result = stmt;
      if (i > 0) {
        const elseTok = elseIfs[i - 1];
        tail = { stmts: [stmt], span: this.cover([elseTok, stmt.span], stmt.span.startOffset) };
      }
    }
    return result;
  }

  copy(n: CstNode): StmtAst {
    const kw = this.tok(n, 'Copy');
    const at = kw?.startOffset ?? 0;
    const srcTok = this.tok(n, 'Identifier');
    const exprNode = this.node(n, 'expression');
    const stmt: StmtAst = { kind: 'copy', source: this.ident(srcTok, at), span: this.cover([kw, srcTok], at) };
    if (exprNode) {
      stmt.at = this.expr(exprNode, stmt.span.endOffset);
      stmt.span = joinSpans(stmt.span, stmt.at.span);
    }
    return stmt;
  }

  prefetch(n: CstNode): StmtAst {
    const kw = this.tok(n, 'Prefetch');
    const at = kw?.startOffset ?? 0;
    const intTok = this.tok(n, 'Integer');
    const unitTok = this.tok(n, 'Pages') ?? this.tok(n, 'Page');
    const dirTok = this.tok(n, 'direction');
    const count = this.intLit(intTok, at);
    const stmt: StmtAst = { kind: 'prefetch', count, span: this.cover([kw, intTok, unitTok, dirTok], at) };
    if (dirTok) stmt.direction = this.ident(dirTok, at);
    return stmt;
  }

  intLit(t: IToken | undefined, fallback: number): IntLit {
    if (t === undefined) return { value: 0n, text: '', span: this.src.span(fallback, fallback) };
    let value = 0n;
    try {
      value = BigInt(t.image.replace(/_/g, ''));
    } catch {
      value = 0n; // malformed: already reported by the lexer
    }
    return { value, text: t.image, span: this.tspan(t) };
  }

  // ---- expressions ----

  private errorExpr(at: number): ExprAst {
    return { kind: 'error', span: this.src.span(at, at) };
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

  expr(n: CstNode | undefined, at: number): ExprAst {
    return this.exprVal(n, at).e;
  }

  /**
   * `operand (op operand)*` to a tree, by operator precedence (see the table in
   * grammar/parser.ts). Iterative, so long chains cannot exhaust the stack.
   */
  private exprVal(n: CstNode | undefined, at: number): Val {
    if (n === undefined) return this.errorVal(at);
    const operands = this.nodes(n, 'operand');
    const ops = this.toks(n, 'BinaryOp');
    const values: Val[] = [];
    const stack: ({ not: IToken } | { op: IToken; prec: number })[] = [];
    const reduce = (): void => {
      const top = stack.pop()!;
      if ('not' in top) {
        values.push(this.not(top.not, values.pop() ?? this.errorVal(at)));
        return;
      }
      const right = values.pop() ?? this.errorVal(at);
      const left = values.pop() ?? this.errorVal(at);
      if (top.prec === COMPARISON_PREC && (isBareComparison(left) || isBareComparison(right))) {
        this.diagnostics.push(diag('chainedComparison', this.tspan(top.op)));
      }
      values.push(this.binary(top.op, left, right));
    };
    const pushOperand = (o: CstNode | undefined, pos: number): void => {
      for (const t of this.toks(o, 'Not')) stack.push({ not: t });
      values.push(this.primary(this.node(o, 'primary'), pos));
    };
    pushOperand(operands[0], at);
    for (let i = 0; i < ops.length; i++) {
      const opTok = ops[i]!;
      const prec = PRECEDENCE[opTok.image] ?? 0;
      while (stack.length > 0) {
        const top = stack[stack.length - 1]!;
        const topPrec = 'not' in top ? NOT_PREC : top.prec;
        if (topPrec < prec) break;
        reduce();
      }
      stack.push({ op: opTok, prec });
      pushOperand(operands[i + 1], tokenSpanEnd(opTok));
    }
    while (stack.length > 0) reduce();
    return values[0] ?? this.errorVal(at);
  }

  private errorVal(at: number): Val {
    return { e: this.errorExpr(at), d: 0, bracketed: false };
  }

  private primary(n: CstNode | undefined, at: number): Val {
    if (n === undefined) return this.errorVal(at);
    const leaf = (e: ExprAst): Val => ({ e, d: 0, bracketed: false });
    const int = this.tok(n, 'Integer');
    if (int) {
      const literal = this.intLit(int, at);
      const unitTok = this.tok(n, 'unit');
      const e: ExprAst = { kind: 'int', literal, span: literal.span };
      if (unitTok) {
        e.unit = { name: unitTok.image, span: this.tspan(unitTok) };
        e.span = joinSpans(literal.span, e.unit.span);
      }
      return leaf(e);
    }
    const v = this.tok(n, 'var');
    if (v) return leaf({ kind: 'var', name: v.image as 'offset' | 'page' | 'address' | 'read' | 'write', span: this.tspan(v) });
    const obj = this.tok(n, 'object');
    if (obj) {
      const prop = this.tok(n, 'property');
      const object = this.ident(obj, at);
      if (prop) return leaf({ kind: 'member', object, property: this.ident(prop, at), span: this.cover([obj, prop], at) });
      return leaf({ kind: 'name', name: object, span: object.span });
    }
    const inner = this.node(n, 'expression');
    if (inner) {
      const v2 = this.exprVal(inner, at);
      // Parentheses widen the span (messages underline what the user bracketed) but add no node.
      const open = this.tok(n, 'LParen');
      const close = this.tok(n, 'RParen');
      const wide = { ...v2.e, span: this.cover([open, close, v2.e.span], at) } as ExprAst;
      return { e: wide, d: v2.d, bracketed: true };
    }
    return this.errorVal(at);
  }
}

/** An expression under construction: its depth in operators, and whether it is in brackets. */
interface Val {
  e: ExprAst;
  d: number;
  bracketed: boolean;
}

function isBareComparison(v: Val): boolean {
  return v.e.kind === 'binary' && PRECEDENCE[v.e.op] === COMPARISON_PREC && !v.bracketed;
}

export function toAst(root: CstNode | undefined, src: SourceText): { ast: FileAst; diagnostics: Diagnostic[] } {
  const b = new Builder(src);
  const ast = b.file(root);
  return { ast, diagnostics: b.diagnostics };
}

