// Constant folding: every subtree without fault values or source sizes becomes
// one constant, computed exactly as at run time (compiler/arith.ts). Dividing
// by a constant zero is an error here; by a run-time zero it is a SIGBUS.
import { applyBinary, wraps } from './arith.js';
import { diag } from '../base/codes.js';
import type { Diagnostic } from '../base/diagnostic.js';
import type { BinaryOp, Expr } from './ir.js';
import { sizeUnit } from '../base/units.js';

export function fold(e: Expr, out: Diagnostic[]): Expr | undefined {
  switch (e.kind) {
    case 'const':
    case 'var':
    case 'sourceSize':
      return e;
    case 'not': {
      const operand = fold(e.operand, out);
      if (operand === undefined) return undefined;
      if (operand.kind === 'const') return { kind: 'const', value: operand.value === 0n ? 1n : 0n, span: e.span };
      return { ...e, operand };
    }
    case 'binary': {
      const left = fold(e.left, out);
      const right = fold(e.right, out);
      if (left === undefined || right === undefined) return undefined;
      if ((e.op === '/' || e.op === '%') && right.kind === 'const' && right.value === 0n) {
        out.push(diag('divisionByZero', right.span, { op: e.op === '/' ? 'division' : 'remainder' }));
        return undefined;
      }
      if ((e.op === '<<' || e.op === '>>') && right.kind === 'const' && right.value >= 64n) {
        out.push(diag('shiftTooLarge', right.span, { amount: right.value }));
      }
      if (left.kind === 'const' && right.kind === 'const') {
        const value = applyBinary(e.op, left.value, right.value);
        if (value === 'divideByZero') return undefined; // unreachable: handled above
        if (wraps(e.op, left.value, right.value)) out.push(diag('constantWraps', e.span, { value: '0x' + value.toString(16) }));
        return sizeOf(e.op, left, right) ? { kind: 'const', value, unit: sizeUnit(value), span: e.span } : { kind: 'const', value, span: e.span };
      }
      return { ...e, left, right };
    }
    case 'inSet': {
      const page = fold(e.page, out);
      return page === undefined ? undefined : { ...e, page };
    }
  }
}

/** Lowered-then-folded constant value, if the expression is one. */
export function constantValue(e: Expr | undefined): bigint | undefined {
  return e !== undefined && e.kind === 'const' ? e.value : undefined;
}

/** Whether folding op keeps a byte count: a sum or difference of sizes, a size times a plain number. */
function sizeOf(op: BinaryOp, left: Extract<Expr, { kind: 'const' }>, right: Extract<Expr, { kind: 'const' }>): boolean {
  const l = left.unit !== undefined;
  const r = right.unit !== undefined;
  if (op === '+' || op === '-') return l && r;
  if (op === '*') return l !== r;
  return false;
}
