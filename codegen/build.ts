// The compile pipeline: check (compiler/) -> emit, build and write
// (build-program.ts). On any error nothing is written.
import type { Result } from '../base/diagnostic.js';
import { checkFile } from '../compiler/index.js';
import { compileProgram, type CompiledPolicy, type CompileOptions } from './build-program.js';

export { compileProgram, EMIT_KINDS } from './build-program.js';
export type { CompiledPolicy, CompileOptions, EmitKind } from './build-program.js';

/** Checks and compiles a .pfp file. Errors are values; nothing is written unless all succeed. */
export async function compileFile(path: string, opts: CompileOptions): Promise<Result<CompiledPolicy[]>> {
  const checked = await checkFile(path);
  if (!checked.ok) return checked;
  return compileProgram(checked.value, opts, checked.diagnostics);
}
