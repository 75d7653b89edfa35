// The public API: import { compile, loadPolicy } from 'faultc'.
import type { Diagnostic } from '../base/diagnostic.js';
import type { CompiledPolicy, CompileOptions } from '../codegen/build.js';
import { RuntimeError } from '../base/errors.js';

export { loadPolicy, Policy, type LoadPolicyOptions } from './api/policy.js';
export { Region } from './api/region.js';
export { RuntimeError } from '../base/errors.js';
export { detectKernelEngine } from './engines/detect.js';
export type { EngineChoice, EngineKind, RegionStats } from './engines/types.js';
export type { FaultEvent, ErrorName } from './api/events.js';
export type { DeferAnswer, DeferHandler, DeferredFault } from './api/defer.js';
export type { HttpSourceStats } from './sources/http.js';
export type { CompiledPolicy, CompileOptions } from '../codegen/build.js';
export type { Diagnostic } from '../base/diagnostic.js';

/** A .pfp that does not compile: the diagnostics say where and why. */
export class CompileError extends RuntimeError {
  constructor(
    readonly file: string,
    readonly diagnostics: Diagnostic[],
  ) {
    const first = diagnostics.find((d) => d.severity === 'error') ?? diagnostics[0];
    super(
      'FAULTC_COMPILE',
      first
        ? `${first.span.file}:${first.span.startLine}:${first.span.startColumn}: ${first.code} ${first.message}`
        : `${file} does not compile`,
    );
    this.name = 'CompileError';
  }
}

/** Compiles a .pfp into outDir (C, BPF objects, decision library, manifest). Throws CompileError. */
export async function compile(path: string, options: CompileOptions): Promise<CompiledPolicy[]> {
  const { compileFile } = await import('../codegen/build.js');
  const res = await compileFile(path, options);
  if (!res.ok) throw new CompileError(path, res.diagnostics);
  return res.value;
}

// The trace engine's exports (runtime/trace/) go here.
export { trace, Tracer, type TraceOptions, type TraceEvent, type TraceRegion, type TraceStats, type TraceSummary } from './trace/trace.js';
