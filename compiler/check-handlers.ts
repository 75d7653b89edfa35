// Handlers: which statements each may hold, their operands (fill byte, copy
// source and offset, prefetch count), and the path rule: every path through
// `on missing` resolves the fault exactly once, and no modifier repeats on a
// path. Paths are not enumerated (sequential ifs would make that exponential):
// a small set of per-path counters flows through the statements instead.
import type { HandlerAst, StmtAst } from '../grammar/ast.js';
import { diag, withRelated } from '../base/codes.js';
import type { Diagnostic } from '../base/diagnostic.js';
import { constantValue, fold } from './fold.js';
import type { Expr, Handler, PrefetchDirection, Stmt } from './ir.js';
import { MAX_PREFETCH_PAGES, PAGE_SIZE } from '../base/limits.js';
import type { Span } from '../base/span.js';
import { UNIT_SCALE } from '../base/units.js';
import { lowerExpr, type ExprContext } from './lower-expr.js';
import { suggesting } from '../base/suggest.js';

const STATEMENT_WORDS: Record<StmtAst['kind'], string> = {
  if: 'if',
  zero: 'zero',
  fill: 'fill',
  copy: 'copy',
  sigbus: 'sigbus',
  defer: 'defer',
  prefetch: 'prefetch',
  notify: 'notify',
  trackDirty: 'track dirty',
};

const ALLOWED: Record<Handler, ReadonlySet<StmtAst['kind']>> = {
  missing: new Set(['if', 'zero', 'fill', 'copy', 'sigbus', 'defer', 'prefetch', 'notify']),
  write: new Set(['if', 'sigbus', 'notify', 'trackDirty']),
};

/** Lowers one handler's statements to IR; errors go to ctx.out. */
export function checkHandler(h: HandlerAst, handler: Handler, regionName: string, ctx: ExprContext): Stmt[] {
  const body = lowerBlock(h.body, handler, ctx);
  checkPaths(body, handler, regionName, h.headSpan, ctx.out);
  return body;
}

function lowerBlock(stmts: StmtAst[], handler: Handler, ctx: ExprContext): Stmt[] {
  const result: Stmt[] = [];
  for (let i = 0; i < stmts.length; i++) {
    const s = stmts[i]!;
    if (!ALLOWED[handler].has(s.kind)) {
      const name = handler === 'write' ? 'notAllowedOnWrite' : 'notAllowedOnMissing';
      ctx.out.push(diag(name, s.span, { statement: STATEMENT_WORDS[s.kind] }));
      continue;
    }
    const lowered = lowerStmt(s, handler, ctx);
    if (lowered) result.push(lowered);
  }
  return result;
}

function expr(e: Parameters<typeof lowerExpr>[0], ctx: ExprContext): Expr | undefined {
  const lowered = lowerExpr(e, ctx);
  return lowered === undefined ? undefined : fold(lowered, ctx.out);
}

const PAGE = BigInt(PAGE_SIZE);

/**
 * One statement to IR. A statement whose operand is wrong still yields a
 * stand-in of the same kind, so the path check sees the shape the user wrote
 * and reports nothing twice.
 */
function lowerStmt(s: StmtAst, handler: Handler, ctx: ExprContext): Stmt | undefined {
  const out = ctx.out;
  switch (s.kind) {
    case 'if': {
      const cond = expr(s.cond, ctx);
      const v = constantValue(cond);
      if (v !== undefined) out.push(diag('constantCondition', s.cond.span, { value: v !== 0n ? 'true' : 'false' }));
      const placeholder: Expr = { kind: 'const', value: 0n, span: s.cond.span };
      return {
        kind: 'if',
        cond: cond ?? placeholder,
        then: lowerBlock(s.then, handler, ctx),
        else: s.else ? lowerBlock(s.else, handler, ctx) : [],
        span: s.span,
      };
    }
    case 'zero':
    case 'sigbus':
    case 'defer':
    case 'notify':
    case 'trackDirty':
      return { kind: s.kind, span: s.span };
    case 'fill': {
      const value = expr(s.value, ctx);
      const byte = constantValue(value);
      if (value !== undefined && byte === undefined) out.push(diag('fillNotConstant', s.value.span));
      else if (byte !== undefined && byte > 255n) out.push(diag('fillOutOfRange', s.value.span, { value: byte }));
      return { kind: 'fill', byte: byte !== undefined && byte <= 255n ? Number(byte) : 0, span: s.span };
    }
    case 'copy': {
      const policy = ctx.scope.ast.name.name;
      const b = ctx.scope.names.get(s.source.name);
      let source = -1;
      if (b === undefined) {
        ctx.unknownNames.add(s.source.name);
        const sources = [...ctx.scope.names].filter(([, x]) => x.kind === 'source').map(([n]) => n);
        out.push(suggesting(diag('unknownSource', s.source.span, { name: s.source.name, policy }), s.source.name, sources));
      }
      else if (b.kind === 'region') out.push(diag('copyFromRegion', s.source.span, { name: s.source.name }));
      else {
        source = b.index;
        ctx.usedSources.add(b.index);
      }
      let at: Expr | undefined = { kind: 'var', name: ctx.copyAt ?? 'offset', span: s.source.span };
      if (s.at) {
        at = expr(s.at, ctx);
        const c = constantValue(at);
        if (c !== undefined && c % PAGE !== 0n) out.push(diag('copyOffsetUnaligned', s.at.span, { value: '0x' + c.toString(16) }));
      }
      return { kind: 'copy', source, at: at ?? { kind: 'const', value: 0n, span: s.span }, span: s.span };
    }
    case 'prefetch': {
      if (s.block) return prefetchBlock(s, s.block.unit.name, out);
      const n = s.count.value;
      if (n < 1n || n > BigInt(MAX_PREFETCH_PAGES)) {
        out.push(diag('prefetchOutOfRange', s.count.span, { count: n, limit: MAX_PREFETCH_PAGES }));
      }
      const direction = (s.direction?.name ?? 'ahead') as PrefetchDirection;
      return { kind: 'prefetch', pages: n >= 1n && n <= BigInt(MAX_PREFETCH_PAGES) ? Number(n) : 1, direction, span: s.span };
    }
  }
}

/** `prefetch block N <unit>`: the block's pages, a power of two from 2 to MAX_PREFETCH_PAGES. */
function prefetchBlock(s: Extract<StmtAst, { kind: 'prefetch' }>, unit: string, out: Diagnostic[]): Stmt {
  const bytes = s.count.value * (UNIT_SCALE[unit] ?? 1n);
  const pages = bytes / BigInt(PAGE_SIZE);
  const ok = bytes % BigInt(PAGE_SIZE) === 0n && pages >= 2n && pages <= BigInt(MAX_PREFETCH_PAGES) && (pages & (pages - 1n)) === 0n;
  if (!ok) {
    out.push(diag('prefetchBlockSize', s.block?.span ?? s.span, { size: `${s.count.text} ${unit}`, limit: `${(MAX_PREFETCH_PAGES * PAGE_SIZE) >> 20} MiB` }));
  }
  return { kind: 'prefetch', pages: ok ? Number(pages) : 2, direction: 'block', span: s.span };
}

// ---- the path rule ----

type ActionKind = 'zero' | 'fill' | 'copy' | 'sigbus' | 'defer';

/**
 * What one family of paths has done so far. Counts stop at 2: "more than
 * once" is all that matters. Immutable, one fixed shape (the checker makes
 * many of these on large policies).
 */
class PathState {
  constructor(
    readonly actions: number,
    readonly action: { kind: ActionKind; span: Span } | undefined,
    readonly prefetch: Span | undefined,
    readonly notify: Span | undefined,
    readonly dirty: Span | undefined,
    /** A place that explains how a path got here without resolving: an `if` with no `else`, or an empty branch. */
    readonly witness: { span: Span; hint: string } | undefined,
  ) {}

  static start(): PathState {
    return new PathState(0, undefined, undefined, undefined, undefined, undefined);
  }

  withAction(kind: ActionKind, span: Span): PathState {
    return new PathState(Math.min(2, this.actions + 1), this.action ?? { kind, span }, this.prefetch, this.notify, this.dirty, this.witness);
  }

  withPrefetch(span: Span): PathState {
    return new PathState(this.actions, this.action, this.prefetch ?? span, this.notify, this.dirty, this.witness);
  }

  withNotify(span: Span): PathState {
    return new PathState(this.actions, this.action, this.prefetch, this.notify ?? span, this.dirty, this.witness);
  }

  withDirty(span: Span): PathState {
    return new PathState(this.actions, this.action, this.prefetch, this.notify, this.dirty ?? span, this.witness);
  }

  withWitness(span: Span, hint: string): PathState {
    if (this.actions !== 0 || this.witness) return this;
    return new PathState(this.actions, this.action, this.prefetch, this.notify, this.dirty, { span, hint });
  }

  /** States with equal keys behave the same from here on: keeping one bounds the set (3*6*2*2*2 keys). */
  get key(): number {
    return this.actions + 3 * (this.action ? ACTION_KEYS[this.action.kind] : 0) + 18 * (this.prefetch ? 1 : 0) + 36 * (this.notify ? 1 : 0) + 72 * (this.dirty ? 1 : 0);
  }
}

const ACTION_KEYS: Record<ActionKind, number> = { zero: 1, fill: 2, copy: 3, sigbus: 4, defer: 5 };

function dedupe(states: PathState[]): PathState[] {
  if (states.length < 2) return states;
  const byKey = new Map<number, PathState>();
  for (let i = 0; i < states.length; i++) {
    const s = states[i]!;
    const k = s.key;
    if (!byKey.has(k)) byKey.set(k, s);
  }
  return byKey.size === states.length ? states : [...byKey.values()];
}

const TRUE_EMPTY = 'when this condition is true, nothing resolves the fault';
const FALSE_EMPTY = 'when this condition is false, nothing resolves the fault';
const FALSE_MISSING = 'when this condition is false, nothing resolves the fault: add an `else`';

class PathChecker {
  private readonly reported = new Set<string>();

  constructor(private readonly out: Diagnostic[]) {}

  report(d: Diagnostic): void {
    const key = d.code + ':' + d.span.startOffset;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.out.push(d);
  }

  flow(stmts: Stmt[], states: PathState[]): PathState[] {
    let cur = states;
    for (let i = 0; i < stmts.length; i++) cur = dedupe(this.step(stmts[i]!, cur));
    return cur;
  }

  private step(s: Stmt, states: PathState[]): PathState[] {
    switch (s.kind) {
      case 'if': {
        const span = s.cond.span;
        const elseHint = s.else.length === 0 ? FALSE_MISSING : FALSE_EMPTY;
        const thenOut = this.flow(s.then, states).map((st) => st.withWitness(span, TRUE_EMPTY));
        const elseOut = this.flow(s.else, states).map((st) => st.withWitness(span, elseHint));
        return thenOut.concat(elseOut);
      }
      case 'zero':
      case 'fill':
      case 'copy':
      case 'sigbus':
      case 'defer':
        return states.map((st) => {
          if (st.action) this.report(withRelated(diag('doubleResolution', s.span, { line: st.action.span.startLine }), st.action.span, 'resolved here first'));
          return st.withAction(s.kind, s.span);
        });
      case 'prefetch':
        return states.map((st) => {
          if (st.prefetch) this.report(diag('repeatedModifier', s.span, { modifier: 'prefetch', line: st.prefetch.startLine }));
          return st.withPrefetch(s.span);
        });
      case 'notify':
        return states.map((st) => {
          if (st.notify) this.report(diag('repeatedModifier', s.span, { modifier: 'notify', line: st.notify.startLine }));
          return st.withNotify(s.span);
        });
      case 'trackDirty':
        return states.map((st) => {
          if (st.dirty) this.report(diag('repeatedModifier', s.span, { modifier: 'track dirty', line: st.dirty.startLine }));
          return st.withDirty(s.span);
        });
    }
  }
}

function checkPaths(body: Stmt[], handler: Handler, regionName: string, head: Span, out: Diagnostic[]): void {
  const checker = new PathChecker(out);
  const ends = checker.flow(body, [PathState.start()]);
  if (handler !== 'missing') return;
  for (const st of ends) {
    if (st.actions === 0) {
      const at = st.witness;
      checker.report(diag('unresolvedPath', at?.span ?? head, { region: regionName }, at?.hint));
    }
    if (st.prefetch && st.action && (st.action.kind === 'sigbus' || st.action.kind === 'defer')) {
      checker.report(diag('prefetchWithoutResolve', st.prefetch, { action: st.action.kind }));
    }
  }
}
