// The policy-free trace program as an object file: native/bpf/trace.bpf.c
// compiled on its own (a policy's trace program includes the same file),
// once into the caller's cache folder, named by the hash of its sources.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { compileBpf, projectBpfDir, projectIncludeDir } from './clang.js';
import { TRACE_PROGRAM_FILE } from './trace-bpf.js';

/** The C compiler is not installed: the machine's lack, not faultc's bug. */
export class MissingCompilerError extends Error {
  constructor(readonly command: string) {
    super(`the C compiler \`${command}\` is not installed`);
  }
}

/** Path of the compiled generic trace program in `cacheDir`, built on first use. */
export async function genericTraceObject(cacheDir: string): Promise<string> {
  const bpfDir = projectBpfDir();
  const includeDir = projectIncludeDir();
  if (!bpfDir || !includeDir) throw new Error('faultc: native/bpf or native/include is missing from this installation');
  const source = join(bpfDir, TRACE_PROGRAM_FILE);
  const hash = createHash('sha256');
  for (const file of [source, join(includeDir, 'faultc_abi.h'), join(includeDir, 'faultc_trace.h')]) hash.update(readFileSync(file));
  const object = join(cacheDir, `generic-${hash.digest('hex').slice(0, 16)}.trace.bpf.o`);
  if (existsSync(object)) return object;
  // Build in a private folder and rename, so concurrent runs never see half a file.
  const work = await mkdtemp(join(cacheDir, 'build-'));
  try {
    const o = join(work, 'generic.trace.bpf.o');
    const r = await compileBpf({ source, output: o, includeDirs: [] });
    if (!r.ok && r.failure.missing) throw new MissingCompilerError(r.failure.command[0] ?? 'clang');
    if (!r.ok) throw new Error(`compiling the trace program failed:\n${r.failure.output}`);
    await rename(o, object);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return object;
}
