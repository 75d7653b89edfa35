// Which engine gives which statement its full meaning.
//
//   kernel  every statement, as documented.
//   uffd    every statement; `defer` cannot go further into user space than the
//           uffd handler already is, so that engine maps a zero page and counts
//           the fault as deferred (PFP6001 when checking for uffd).
//   trace   observes only: faults are counted and `notify` decisions become
//           events, but nothing is resolved (PFP6002/PFP6003 when checking for trace).
//
// All three engines accept every checked policy, so `engines` lists all three;
// the warnings appear only when a check names its target engine.
import { diag } from '../base/codes.js';
import type { Diagnostic } from '../base/diagnostic.js';
import { ENGINE_NAMES, type EngineName, type PolicyIR, type Stmt } from './ir.js';

export function enginesFor(policy: Omit<PolicyIR, 'engines'>): EngineName[] {
  // Regions of a process image run only under `faultc lazy-pages --policy`.
  if (policy.regions.some((r) => r.image)) return [];
  // Run-time sets run everywhere: filled through libfaultc or Region.addToSet
  // on uffd (bitmaps) and kernel (the program's maps); on trace they are empty.
  return [...ENGINE_NAMES];
}

/** Every statement of a handler, nested ones included, in order. */
export function* walk(stmts: Stmt[]): Generator<Stmt> {
  for (const s of stmts) {
    yield s;
    if (s.kind === 'if') {
      yield* walk(s.then);
      yield* walk(s.else);
    }
  }
}

/** Warnings about running `policy` on `engine`. */
export function engineWarnings(policy: PolicyIR, engine: EngineName): Diagnostic[] {
  const out: Diagnostic[] = [];
  let notifies = false;
  let firstResolving: Stmt | undefined;
  for (const r of policy.regions) {
    for (const s of [...walk(r.onMissing ?? []), ...walk(r.onWrite ?? [])]) {
      if (s.kind === 'notify') notifies = true;
      if (engine === 'uffd' && s.kind === 'defer') out.push(diag('deferOnUffd', s.span));
      if (s.kind === 'zero' || s.kind === 'fill' || s.kind === 'copy' || s.kind === 'sigbus' || s.kind === 'defer' || s.kind === 'trackDirty') {
        firstResolving ??= s;
      }
    }
  }
  if (engine === 'trace') {
    if (firstResolving) {
      const word = firstResolving.kind === 'trackDirty' ? 'track dirty' : firstResolving.kind;
      out.push(diag('traceObservesOnly', firstResolving.span, { statement: word }));
    }
    if (!notifies) out.push(diag('traceNoNotify', policy.span, { policy: policy.name }));
  }
  return out;
}
