// The policy-free trace program as an object file: emitted from the same
// template as a policy's trace program (trace-bpf.ts), compiled once into the
// caller's cache folder and named by the hash of its C text.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compileBpf } from './clang.js';
import { emitGenericTraceBpf } from './trace-bpf.js';

/** The C compiler is not installed: the machine's lack, not faultc's bug. */
export class MissingCompilerError extends Error {
  constructor(readonly command: string) {
    super(`the C compiler \`${command}\` is not installed`);
  }
}

/** Path of the compiled generic trace program in `cacheDir`, built on first use. */
export async function genericTraceObject(cacheDir: string): Promise<string> {
  const source = emitGenericTraceBpf();
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const object = join(cacheDir, `generic-${hash}.trace.bpf.o`);
  if (existsSync(object)) return object;
  // Build in a private folder and rename, so concurrent runs never see half a file.
  const work = await mkdtemp(join(cacheDir, 'build-'));
  try {
    const c = join(work, 'generic.trace.bpf.c');
    const o = join(work, 'generic.trace.bpf.o');
    await writeFile(c, source);
    const r = await compileBpf({ source: c, output: o, includeDirs: [] });
    if (!r.ok && r.failure.missing) throw new MissingCompilerError(r.failure.command[0] ?? 'clang');
    if (!r.ok) throw new Error(`compiling the trace program failed:\n${r.failure.output}`);
    await rename(o, object);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return object;
}
