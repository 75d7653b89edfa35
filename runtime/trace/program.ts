// Which BPF object a trace session loads: the policy-free program (built once
// into a cache folder by codegen/generic-trace.ts) or a compiled policy's
// `<policy>.trace.bpf.o` (from its manifest, or compiled from a .pfp first).
import { CODES, isFileLevel } from '../../base/codes.js';
import type { Diagnostic } from '../../base/diagnostic.js';
import { INTERNAL_CODES, MISSING_TOOL_CODES } from '../../codegen/codes.js';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CLANG_NEED } from '../../codegen/clang.js';
import { genericTraceObject as buildGenericTraceObject, MissingCompilerError } from '../../codegen/generic-trace.js';
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
  try {
    return await buildGenericTraceObject(await writableCacheDir('trace'));
  } catch (e) {
    if (!(e instanceof MissingCompilerError)) throw e;
    throw new RuntimeError('FAULTC_COMPILER_MISSING', `the C compiler \`${e.command}\` is not installed: faultc trace builds its BPF program with it on first use; ${CLANG_NEED.install}, or name another compiler with ${CLANG_NEED.variable}`);
  }
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
    if (!res.ok) throw compileError(path, res.diagnostics);
    const chosen = res.value.find((p) => policy === undefined || p.policy === policy);
    if (!chosen?.manifest) throw new Error(`${path}: no policy ${policy ?? ''} compiled`);
    if (policy === undefined && res.value.length > 1) {
      throw new RuntimeError('FAULTC_POLICY_AMBIGUOUS', `${path} holds ${res.value.length} policies (${res.value.map((p) => p.policy).join(', ')}): choose one with --policy-name`);
    }
    const manifest = await readManifest(chosen.manifest);
    return { ...withObject(manifest, path), cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** What stops a .pfp from compiling, said as the cause calls for: a file, a tool, a name, or the policy's errors. */
function compileError(path: string, diagnostics: Diagnostic[]): RuntimeError {
  const first = diagnostics.find((d) => d.severity === 'error') ?? diagnostics[0];
  if (!first) return new RuntimeError('FAULTC_POLICY_INVALID', `${path} does not compile (run faultc check ${path})`);
  const said = `${first.message}${first.hint ? ` (${first.hint})` : ''}`;
  if (first.code === CODES.cannotRead.code) return new RuntimeError('FAULTC_POLICY_READ', `cannot read ${path}: ${first.message.replace(/^cannot read the file: /, '')}`);
  if (MISSING_TOOL_CODES.has(first.code)) return new RuntimeError('FAULTC_COMPILER_MISSING', said);
  if (first.code === CODES.noSuchPolicy.code) return new RuntimeError('FAULTC_POLICY_NOT_FOUND', `${path}: ${first.message}`);
  if (INTERNAL_CODES.has(first.code)) return new RuntimeError('FAULTC_BUILD', `${path}: ${said}`);
  const where = isFileLevel(first) ? first.span.file : `${first.span.file}:${first.span.startLine}:${first.span.startColumn}`;
  return new RuntimeError('FAULTC_POLICY_INVALID', `${path} does not compile: ${where}: ${first.code} ${first.message} (run faultc check ${path})`);
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
