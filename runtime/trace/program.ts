// Which BPF object a trace session loads: the policy-free program (built once
// into a cache folder from codegen/trace-bpf.ts) or a compiled policy's
// `<policy>.trace.bpf.o` (from its manifest, or compiled from a .pfp first).
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { compileBpf } from '../../codegen/clang.js';
import { artifactPath, readManifest, type LoadedManifest } from '../../codegen/manifest.js';
import { emitGenericTraceBpf } from '../../codegen/trace-bpf.js';
import { writableCacheDir } from '../proc/cache-dir.js';

export interface TraceProgram {
  objectPath: string;
  /** Present when the program carries a policy's decision function. */
  manifest?: LoadedManifest;
}

/** The policy-free trace program, compiled on first use and cached by content hash. */
export async function genericTraceObject(): Promise<string> {
  const source = emitGenericTraceBpf();
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = await writableCacheDir('trace');
  const object = join(dir, `generic-${hash}.trace.bpf.o`);
  if (existsSync(object)) return object;
  // Build in a private folder and rename, so concurrent runs never see half a file.
  const work = await mkdtemp(join(dir, 'build-'));
  try {
    const c = join(work, 'generic.trace.bpf.c');
    const o = join(work, 'generic.trace.bpf.o');
    await writeFile(c, source);
    const r = await compileBpf({ source: c, output: o, includeDirs: [] });
    if (!r.ok) throw new Error(`compiling the trace program failed:\n${r.failure.output}`);
    await rename(o, object);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return object;
}

/**
 * A policy's trace program. `path` is a `.policy.json` manifest or a `.pfp`
 * file (compiled into a temporary folder; `policy` picks one of several).
 */
export async function policyTraceProgram(path: string, policy?: string): Promise<TraceProgram & { cleanup: () => Promise<void> }> {
  const abs = resolve(path);
  if (abs.endsWith('.json')) {
    const manifest = await readManifest(abs);
    if (policy !== undefined && manifest.policy !== policy) {
      throw new Error(`${path} holds policy ${manifest.policy}, not ${policy}`);
    }
    return { ...withObject(manifest, path), cleanup: async () => {} };
  }
  // Imported here so the policy-free path does not need the compiler.
  const { compileFile } = await import('../../codegen/build.js');
  const outDir = await mkdtemp(join(tmpdir(), 'faultc-trace-'));
  const cleanup = () => rm(outDir, { recursive: true, force: true });
  try {
    const res = await compileFile(abs, { outDir, emit: ['c', 'obj', 'json'], ...(policy !== undefined ? { policy } : {}) });
    if (!res.ok) {
      const first = res.diagnostics.find((d) => d.severity === 'error') ?? res.diagnostics[0];
      const where = first ? `${first.span.file}:${first.span.startLine}:${first.span.startColumn}: ${first.code} ${first.message}` : 'unknown error';
      throw new PolicyCompileError(`${path} does not compile: ${where} (run faultc check ${path})`);
    }
    const chosen = res.value.find((p) => policy === undefined || p.policy === policy);
    if (!chosen || !chosen.manifest) throw new Error(`${path}: no policy ${policy ?? ''} compiled`);
    if (policy === undefined && res.value.length > 1) {
      throw new Error(`${path} holds ${res.value.length} policies: choose one with --policy-name`);
    }
    const manifest = await readManifest(chosen.manifest);
    return { ...withObject(manifest, path), cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

export class PolicyCompileError extends Error {}

function withObject(manifest: LoadedManifest, path: string): TraceProgram {
  const objectPath = artifactPath(manifest, 'traceBpfO');
  if (!objectPath || !existsSync(objectPath)) throw new Error(`${path}: compiled without its .trace.bpf.o (compile with --emit obj,json)`);
  return { objectPath, manifest };
}

/** Sizes of a policy's sources (0 when a file is missing), for the decision function. */
export function sourceSizes(manifest: LoadedManifest): bigint[] {
  return manifest.sources.map((s) => {
    try {
      return BigInt(statSync(s.resolvedPath).size);
    } catch {
      return 0n;
    }
  });
}
