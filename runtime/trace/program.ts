// Which BPF object a trace session loads: the policy-free program (built once
// into a cache folder by codegen/generic-trace.ts) or a compiled policy's
// `<policy>.trace.bpf.o` (from its manifest, or compiled from a .pfp first).
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { genericTraceObject as buildGenericTraceObject } from '../../codegen/generic-trace.js';
import { artifactPath, readManifest, type LoadedManifest } from '../../codegen/manifest.js';
import { RuntimeError } from '../../base/errors.js';
import { writableCacheDir } from '../proc/cache-dir.js';

export interface TraceProgram {
  objectPath: string;
  /** Present when the program carries a policy's decision function. */
  manifest?: LoadedManifest;
}

/** The policy-free trace program, compiled on first use and cached by content hash. */
export async function genericTraceObject(): Promise<string> {
  return buildGenericTraceObject(await writableCacheDir('trace'));
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
      throw new RuntimeError('FAULTC_POLICY_INVALID', `${path} does not compile: ${where} (run faultc check ${path})`);
    }
    const chosen = res.value.find((p) => policy === undefined || p.policy === policy);
    if (!chosen?.manifest) throw new Error(`${path}: no policy ${policy ?? ''} compiled`);
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
