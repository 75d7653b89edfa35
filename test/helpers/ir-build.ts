// Hand-built IR for codegen tests: independent of the parser, so codegen can be
// tested on shapes (every operator, hostile names) the grammar may never produce.
import type { BinaryOp, Expr, FaultVar, PolicyIR, RegionIR, Stmt } from '../../compiler/ir.js';
import type { Span } from '../../base/span.js';

let line = 1;

/** A span on a fresh line of a made-up file. */
export function span(file = 'test.pfp', at?: number): Span {
  const l = at ?? line++;
  return { file, startLine: l, startColumn: 1, endLine: l, endColumn: 2, startOffset: 0, endOffset: 1 };
}

export const E = {
  c: (value: bigint | number): Expr => ({ kind: 'const', value: BigInt(value), span: span() }),
  v: (name: FaultVar): Expr => ({ kind: 'var', name, span: span() }),
  size: (source: number): Expr => ({ kind: 'sourceSize', source, span: span() }),
  bin: (op: BinaryOp, left: Expr, right: Expr): Expr => ({ kind: 'binary', op, left, right, span: span() }),
  not: (operand: Expr): Expr => ({ kind: 'not', operand, span: span() }),
};

export const S = {
  if: (cond: Expr, then: Stmt[], els: Stmt[] = []): Stmt => ({ kind: 'if', cond, then, else: els, span: span() }),
  zero: (): Stmt => ({ kind: 'zero', span: span() }),
  fill: (byte: number): Stmt => ({ kind: 'fill', byte, span: span() }),
  copy: (source: number, at: Expr): Stmt => ({ kind: 'copy', source, at, span: span() }),
  sigbus: (): Stmt => ({ kind: 'sigbus', span: span() }),
  defer: (): Stmt => ({ kind: 'defer', span: span() }),
  prefetch: (pages: number, direction: 'ahead' | 'behind' | 'around' | 'block' = 'ahead'): Stmt => ({
    kind: 'prefetch',
    pages,
    direction,
    span: span(),
  }),
  notify: (): Stmt => ({ kind: 'notify', span: span() }),
  trackDirty: (): Stmt => ({ kind: 'trackDirty', span: span() }),
};

export function region(index: number, id: string, body: { onMissing?: Stmt[]; onWrite?: Stmt[]; size?: bigint; at?: bigint }): RegionIR {
  const r: RegionIR = { id, index, size: body.size ?? 1n << 20n, span: span() };
  if (body.at !== undefined) r.at = body.at;
  if (body.onMissing) r.onMissing = body.onMissing;
  if (body.onWrite) r.onWrite = body.onWrite;
  return r;
}

export function policy(name: string, regions: RegionIR[], sources: string[] = []): PolicyIR {
  return {
    name,
    sources: sources.map((id, index) => ({ id, index, path: `${id}.img`, resolvedPath: `/data/${id}.img`, span: span() })),
    regions,
    engines: ['kernel', 'uffd', 'trace'],
    span: span(),
  };
}
