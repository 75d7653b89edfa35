// The reference evaluator: what a checked policy decides for one fault,
// computed from the IR alone, independently of the generated C. Tests compare
// the two; `faultc explain` prints the path it takes.
//
// Semantics (the generated decision function must agree exactly):
// - Values are unsigned 64-bit; + - * << wrap; shifts by 64 or more give 0.
// - Comparisons, `and`, `or`, `not` give 1 or 0; non-zero is true. Both sides
//   of `and`/`or` are always evaluated (nothing has side effects, but a
//   division by zero on either side counts).
// - `offset` is the byte offset of the faulting page in its region (page-aligned),
//   `page` = offset / 4096, `address` the faulting page address, `read` = not `write`,
//   `<source>.size` comes from the input (0 when not given), `p in <set>`
//   is 1 when page p of the faulting region is in the set (the input's
//   `inSet`; every set is empty when not given).
// - Statements run in order; an `if` runs one branch. Whatever runs is the decision:
//   one resolving action (missing), modifiers at most once each.
// - A run-time error stops evaluation and replaces the whole decision: action
//   `sigbus` with `error` set, no notify, no dirty tracking, no prefetch.
//   Errors: division or remainder by zero (`divideByZero`); a copy offset that is
//   not page-aligned (`unalignedOffset`).
// - A region without `on missing` gives `zero`; a write fault in a region
//   without `on write` gives `none`; `on write` gives `sigbus` if it runs
//   `sigbus`, else `none`.
// - A copy past the end of its source is still `copy`: the engine zero-fills
//   the tail or, for a page wholly past the end, raises SIGBUS itself.
import { applyBinary, bool, truth } from './arith.js';
import type { Expr, Handler, PolicyIR, PrefetchDirection, Stmt } from './ir.js';
import type { Span } from '../base/span.js';

export type EvalAction = 'none' | 'zero' | 'fill' | 'copy' | 'sigbus' | 'defer';
export type EvalError = 'divideByZero' | 'unalignedOffset';

export interface EvalInput {
  region: number;
  handler: Handler;
  offset: bigint;
  address: bigint;
  write: boolean;
  sourceSizes: bigint[];
  /** Whether a page of this region is in a run-time set; absent: every set is empty. */
  inSet?: (set: number, page: bigint) => boolean;
}

export interface Evaluation {
  action: EvalAction;
  fillByte?: number;
  source?: number;
  sourceOffset?: bigint;
  prefetch?: { pages: number; direction: PrefetchDirection };
  notify: boolean;
  trackDirty: boolean;
  error?: EvalError;
  /** Spans of the statements that ran and the conditions tested, in order. */
  path: Span[];
}

const PAGE_SHIFT = 12n;
const PAGE_MASK = 4095n;

class RuntimeError {
  constructor(readonly error: EvalError, readonly span: Span) {}
}

export function evaluate(policy: PolicyIR, input: EvalInput): Evaluation {
  const region = policy.regions[input.region];
  if (region === undefined) throw new RangeError(`policy ${policy.name} has no region ${input.region}`);
  const result: Evaluation = { action: 'none', notify: false, trackDirty: false, path: [] };
  const body = input.handler === 'missing' ? region.onMissing : region.onWrite;
  if (body === undefined) {
    if (input.handler === 'missing') result.action = 'zero';
    return result;
  }
  try {
    run(body, input, result);
  } catch (e) {
    if (!(e instanceof RuntimeError)) throw e;
    return { action: 'sigbus', notify: false, trackDirty: false, error: e.error, path: [...result.path, e.span] };
  }
  return result;
}

function run(stmts: Stmt[], input: EvalInput, out: Evaluation): void {
  for (const s of stmts) {
    switch (s.kind) {
      case 'if': {
        out.path.push(s.cond.span);
        const c = value(s.cond, input);
        run(truth(c) ? s.then : s.else, input, out);
        break;
      }
      case 'zero':
      case 'sigbus':
      case 'defer':
        out.path.push(s.span);
        out.action = s.kind;
        break;
      case 'fill':
        out.path.push(s.span);
        out.action = 'fill';
        out.fillByte = s.byte;
        break;
      case 'copy': {
        out.path.push(s.span);
        const at = value(s.at, input);
        if ((at & PAGE_MASK) !== 0n) throw new RuntimeError('unalignedOffset', s.at.span);
        out.action = 'copy';
        out.source = s.source;
        out.sourceOffset = at;
        break;
      }
      case 'prefetch':
        out.path.push(s.span);
        out.prefetch = { pages: s.pages, direction: s.direction };
        break;
      case 'notify':
        out.path.push(s.span);
        out.notify = true;
        break;
      case 'trackDirty':
        out.path.push(s.span);
        out.trackDirty = true;
        break;
    }
  }
}

/** Value of one expression for one fault, or the run-time error it raises. */
export function evaluateExpr(e: Expr, input: EvalInput): bigint | EvalError {
  try {
    return value(e, input);
  } catch (err) {
    if (err instanceof RuntimeError) return err.error;
    throw err;
  }
}

function value(e: Expr, input: EvalInput): bigint {
  switch (e.kind) {
    case 'const':
      return e.value;
    case 'sourceSize':
      return input.sourceSizes[e.source] ?? 0n;
    case 'var':
      switch (e.name) {
        case 'offset':
          return input.offset;
        case 'page':
          return input.offset >> PAGE_SHIFT;
        case 'address':
          return input.address;
        case 'write':
          return bool(input.write);
        case 'read':
          return bool(!input.write);
      }
      break;
    case 'not':
      return bool(!truth(value(e.operand, input)));
    case 'inSet': {
      const page = value(e.page, input);
      return bool(input.inSet?.(e.set, page) ?? false);
    }
    case 'binary': {
      const r = applyBinary(e.op, value(e.left, input), value(e.right, input));
      if (r === 'divideByZero') throw new RuntimeError('divideByZero', e.span);
      return r;
    }
  }
  throw new RangeError('unknown expression');
}
