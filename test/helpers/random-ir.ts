// Random checked-shape IR for tests: expressions over every operator, decision
// trees where each path through `on missing` resolves exactly once. Seeded.
import type { BinaryOp, Expr, FaultVar, PolicyIR, Stmt } from '../../compiler/ir.js';
import type { Rng } from './decide-driver.js';
import { E, S, policy as makePolicy, region as makeRegion } from './ir-build.js';

const PAGE = 4096n;
const U64 = (1n << 64n) - 1n;
export const INTERESTING = [0n, 1n, 2n, 3n, 7n, 12n, 63n, 64n, 65n, 4095n, 4096n, 4097n, 1n << 20n, 1n << 32n, 1n << 63n, U64, U64 - 4095n];

export const BINARY: readonly BinaryOp[] = ['+', '-', '*', '/', '%', '<<', '>>', '&', '|', '<', '<=', '>', '>=', '==', '!=', 'and', 'or'];
const VARS: readonly FaultVar[] = ['offset', 'page', 'address', 'read', 'write'];

export function randomExpr(rng: Rng, depth: number, nSources: number): Expr {
  if (depth <= 0 || rng.chance(0.25)) {
    const k = rng.int(3);
    if (k === 0) return E.c(rng.chance(0.5) ? rng.pick(INTERESTING) : rng.next());
    if (k === 1 && nSources > 0) return E.size(rng.int(nSources));
    return E.v(rng.pick(VARS));
  }
  if (rng.chance(0.1)) return E.not(randomExpr(rng, depth - 1, nSources));
  return E.bin(rng.pick(BINARY), randomExpr(rng, depth - 1, nSources), randomExpr(rng, depth - 1, nSources));
}

/** A resolving block: each path ends in exactly one action, with optional modifiers. */
function randomMissing(rng: Rng, depth: number, nSources: number): Stmt[] {
  if (depth > 0 && rng.chance(0.6)) {
    const out: Stmt[] = [];
    if (rng.chance(0.3)) out.push(S.notify());
    out.push(S.if(randomExpr(rng, 3, nSources), randomMissing(rng, depth - 1, nSources), randomMissing(rng, depth - 1, nSources)));
    return out;
  }
  const out: Stmt[] = [];
  const action = rng.int(5);
  if (action === 0) out.push(S.zero());
  else if (action === 1) out.push(S.fill(rng.int(256)));
  else if (action === 2 && nSources > 0) {
    const at = rng.chance(0.5) ? E.bin('<<', randomExpr(rng, 2, nSources), E.c(12)) : randomExpr(rng, 3, nSources);
    out.push(S.copy(rng.int(nSources), at));
  } else if (action === 3) out.push(S.sigbus());
  else out.push(S.defer());
  if (rng.chance(0.4)) {
    const direction = rng.pick(['ahead', 'behind', 'around', 'block'] as const);
    // An aligned block is a power of two from 2 to 512 pages.
    out.push(S.prefetch(direction === 'block' ? 2 << rng.int(9) : 1 + rng.int(512), direction));
  }
  if (rng.chance(0.3)) out.push(S.notify());
  return rng.chance(0.5) ? out : out.reverse();
}

function randomWrite(rng: Rng, depth: number, nSources: number): Stmt[] {
  if (depth > 0 && rng.chance(0.5)) {
    return [S.if(randomExpr(rng, 3, nSources), randomWrite(rng, depth - 1, nSources), randomWrite(rng, depth - 1, nSources))];
  }
  const out: Stmt[] = [];
  if (rng.chance(0.5)) out.push(S.trackDirty());
  if (rng.chance(0.4)) out.push(S.notify());
  if (rng.chance(0.2)) out.push(S.sigbus());
  return out;
}

export function randomPolicy(rng: Rng, index: number): PolicyIR {
  const nSources = rng.int(4);
  const regions = Array.from({ length: 1 + rng.int(3) }, (_, i) => {
    const body: { onMissing?: Stmt[]; onWrite?: Stmt[]; size: bigint } = { size: (1n + rng.below(4096n)) * PAGE };
    if (rng.chance(0.9)) body.onMissing = randomMissing(rng, 3, nSources);
    if (rng.chance(0.6)) body.onWrite = randomWrite(rng, 2, nSources);
    return makeRegion(i, `r${i}`, body);
  });
  return makePolicy(`gen${index}`, regions, Array.from({ length: nSources }, (_, i) => `s${i}`));
}
