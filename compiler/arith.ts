// The meaning of every operator on unsigned 64-bit values. Constant folding and
// the reference evaluator both use it, so a folded constant always equals what
// the evaluator would compute at run time.
import { U64_MAX } from '../base/limits.js';
import type { BinaryOp } from './ir.js';

export function wrap(v: bigint): bigint {
  return v & U64_MAX;
}

export function truth(v: bigint): boolean {
  return v !== 0n;
}

export function bool(b: boolean): bigint {
  return b ? 1n : 0n;
}

/**
 * Applies `op`: wrapping arithmetic; comparisons and logic give 1 or 0; shifts
 * by 64 or more give 0; division or remainder by zero gives 'divideByZero'.
 */
export function applyBinary(op: BinaryOp, a: bigint, b: bigint): bigint | 'divideByZero' {
  switch (op) {
    case '+':
      return wrap(a + b);
    case '-':
      return wrap(a - b);
    case '*':
      return wrap(a * b);
    case '/':
      return b === 0n ? 'divideByZero' : a / b;
    case '%':
      return b === 0n ? 'divideByZero' : a % b;
    case '<<':
      return b >= 64n ? 0n : wrap(a << b);
    case '>>':
      return b >= 64n ? 0n : a >> b;
    case '&':
      return a & b;
    case '|':
      return a | b;
    case '<':
      return bool(a < b);
    case '<=':
      return bool(a <= b);
    case '>':
      return bool(a > b);
    case '>=':
      return bool(a >= b);
    case '==':
      return bool(a === b);
    case '!=':
      return bool(a !== b);
    case 'and':
      return bool(truth(a) && truth(b));
    case 'or':
      return bool(truth(a) || truth(b));
  }
}

/** True when the exact (unbounded) result of `op` leaves the 64-bit range, i.e. it wrapped. */
export function wraps(op: BinaryOp, a: bigint, b: bigint): boolean {
  switch (op) {
    case '+':
      return a + b > U64_MAX;
    case '-':
      return a < b;
    case '*':
      return a * b > U64_MAX;
    case '<<':
      return b < 64n && a << b > U64_MAX;
    default:
      return false;
  }
}
