// The compile pipeline after checking: emit -> write into a temporary folder
// inside the output folder -> clang -> rename into place. Nothing is left behind on
// any error: bad input writes nothing at all, and a failed build removes its
// temporary folder (and the output folder, if this run created it).
import { mkdtemp, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { fileErrorReason, makeDir } from '../compiler/files.js';
import { dirname, join, resolve } from 'node:path';
import type { Diagnostic, Result } from '../base/diagnostic.js';
import type { PolicyIR, ProgramIR } from '../compiler/ir.js';
import type { Span } from '../base/span.js';
import { CEscapeError } from './c-escape.js';
import { CC_NEED, CLANG_NEED, compileBpf, compileHostSo, type CcResult, type CompilerNeed } from './clang.js';
import { codegenDiag } from './codes.js';
import { decideHostCName, emitDecideHostC } from './decide-host.js';
import { emitPolicy } from './index.js';
import { ARTIFACT_KEYS, artifactFileName, manifestFileName, renderManifest, type ArtifactKey } from './manifest.js';

export type EmitKind = 'c' | 'obj' | 'json';
export const EMIT_KINDS: readonly EmitKind[] = ['c', 'obj', 'json'];

export interface CompileOptions {
  outDir: string;
  /** What to keep; default all three. `obj` builds from the C even when `c` is not kept. */
  emit?: EmitKind[];
  /** Compile only this policy of the file. */
  policy?: string;
}

export interface CompiledPolicy {
  policy: string;
  outDir: string;
  /** Absolute path of `<policy>.policy.json`, or null when `json` was not emitted. */
  manifest: string | null;
  /** Absolute paths of every file written, sorted. */
  files: string[];
}

const C_KEYS: ArtifactKey[] = ['decideH', 'abiH', 'traceBpfC', 'faultBpfC'];

function fileSpan(file: string): Span {
  return { file, startLine: 1, startColumn: 1, endLine: 1, endColumn: 1, startOffset: 0, endOffset: 0 };
}

function fail<T>(diagnostics: Diagnostic[]): Result<T> {
  return { ok: false, diagnostics };
}

/** The part of compileFile after checking: for callers that already hold the IR. */
export async function compileProgram(
  program: ProgramIR,
  opts: CompileOptions,
  warnings: Diagnostic[] = [],
): Promise<Result<CompiledPolicy[]>> {
  const emit = new Set(opts.emit && opts.emit.length > 0 ? opts.emit : EMIT_KINDS);
  const at = fileSpan(program.file);
  let policies: PolicyIR[] = program.policies;
  if (opts.policy !== undefined) {
    policies = program.policies.filter((p) => p.name === opts.policy);
    if (policies.length === 0) {
      const names = program.policies.map((p) => p.name).join(', ') || 'none';
      return fail([...warnings, codegenDiag('noSuchPolicy', at, { name: opts.policy, names })]);
    }
  }

  // Emit every text first: a refusal here means nothing touches the disk.
  const emitted: { policy: PolicyIR; files: Map<string, string> }[] = [];
  try {
    for (const policy of policies) emitted.push({ policy, files: emitPolicy(program, policy) });
  } catch (e) {
    // An emitter refusing checked IR is faultc's bug: report it, never throw.
    const reason = e instanceof CEscapeError ? e.message : `${(e as Error).name}: ${(e as Error).message}`;
    return fail([...warnings, codegenDiag('emitRefused', at, { reason })]);
  }

  const outDir = resolve(opts.outDir);
  // The first folder this run creates (outDir or a parent), to remove on failure.
  let created: string | undefined;
  let tmp: string | null = null;
  try {
    created = await makeDir(outDir);
    tmp = await mkdtemp(join(outDir, '.faultc-tmp-'));
    const kept: { policy: string; names: string[]; manifest: string | null }[] = [];
    const diagnostics: Diagnostic[] = [];
    const missingSaid = new Set<string>();
    for (const { policy, files } of emitted) {
      const r = await buildOne(program, policy, files, tmp, outDir, emit, missingSaid);
      if (!r.ok) diagnostics.push(...r.diagnostics);
      else kept.push({ policy: policy.name, names: r.names, manifest: r.manifest });
    }
    if (diagnostics.length > 0) {
      await cleanup(tmp, outDir, created);
      return fail([...warnings, ...diagnostics]);
    }
    const results: CompiledPolicy[] = [];
    for (const k of kept) {
      for (const name of k.names) await rename(join(tmp, name), join(outDir, name));
      results.push({
        policy: k.policy,
        outDir,
        manifest: k.manifest === null ? null : join(outDir, k.manifest),
        files: k.names.map((n) => join(outDir, n)).sort(),
      });
    }
    await rm(tmp, { recursive: true, force: true });
    return { ok: true, value: results, diagnostics: warnings };
  } catch (e) {
    if (tmp !== null) await cleanup(tmp, outDir, created);
    else await removeCreated(outDir, created);
    return fail([...warnings, codegenDiag('writeFailed', at, { reason: `${outDir}: ${fileErrorReason(e)}` })]);
  }
}

async function cleanup(tmp: string, outDir: string, created: string | undefined): Promise<void> {
  await rm(tmp, { recursive: true, force: true });
  await removeCreated(outDir, created);
}

/** Removes the folders this run created, innermost first, while they are empty. */
async function removeCreated(outDir: string, created: string | undefined): Promise<void> {
  if (created === undefined) return;
  for (let d = outDir; ; d = dirname(d)) {
    try {
      await rmdir(d);
    } catch {
      return;
    }
    if (d === created || dirname(d) === d) return;
  }
}

type BuildOne = { ok: true; names: string[]; manifest: string | null } | { ok: false; diagnostics: Diagnostic[] };

/** Writes one policy's files into `tmp` and compiles them; returns the names to keep. */
async function buildOne(
  program: ProgramIR,
  policy: PolicyIR,
  files: Map<string, string>,
  tmp: string,
  outDir: string,
  emit: Set<EmitKind>,
  missingSaid: Set<string>,
): Promise<BuildOne> {
  const base = policy.name;
  for (const [name, text] of files) await writeFile(join(tmp, name), text);
  const artifacts: Partial<Record<ArtifactKey, string | Uint8Array>> = {};
  if (emit.has('c')) {
    for (const key of C_KEYS) artifacts[key] = files.get(artifactFileName(base, key)) ?? '';
  }
  if (emit.has('obj')) {
    const hostC = join(tmp, decideHostCName(base));
    await writeFile(hostC, emitDecideHostC(base, policy));
    const pfpDir = dirname(program.file);
    const jobs: [ArtifactKey, Promise<CcResult>, CompilerNeed][] = [
      [
        'traceBpfO',
        compileBpf({
          source: join(tmp, artifactFileName(base, 'traceBpfC')),
          output: join(tmp, artifactFileName(base, 'traceBpfO')),
          includeDirs: [tmp],
          pfpDir,
          prefixMap: { from: tmp, to: outDir },
        }),
        CLANG_NEED,
      ],
      [
        'faultBpfO',
        compileBpf({
          source: join(tmp, artifactFileName(base, 'faultBpfC')),
          output: join(tmp, artifactFileName(base, 'faultBpfO')),
          includeDirs: [tmp],
          pfpDir,
          prefixMap: { from: tmp, to: outDir },
        }),
        CLANG_NEED,
      ],
      ['decideSo', compileHostSo({ source: hostC, output: join(tmp, artifactFileName(base, 'decideSo')), includeDirs: [tmp] }), CC_NEED],
    ];
    const diagnostics: Diagnostic[] = [];
    for (const [key, job, need] of jobs) {
      const r = await job;
      if (!r.ok && r.failure.missing) {
        // Said once per compiler, however many objects it was to build.
        const command = r.failure.command[0] ?? '';
        if (!missingSaid.has(command)) diagnostics.push(codegenDiag('ccMissing', fileSpan(program.file), { command, what: need.what, install: need.install, variable: need.variable }));
        missingSaid.add(command);
      } else if (!r.ok) {
        diagnostics.push(
          codegenDiag(
            'ccFailed',
            policy.span,
            { file: artifactFileName(base, key) },
            `$ ${r.failure.command.join(' ')}\n${r.failure.output.trimEnd()}`,
          ),
        );
      } else {
        artifacts[key] = await readFile(join(tmp, artifactFileName(base, key)));
      }
    }
    if (diagnostics.length > 0) return { ok: false, diagnostics };
  }
  const names = ARTIFACT_KEYS.filter((k) => artifacts[k] !== undefined).map((k) => artifactFileName(base, k));
  let manifest: string | null = null;
  if (emit.has('json')) {
    manifest = manifestFileName(base);
    await writeFile(join(tmp, manifest), renderManifest(program, policy, artifacts));
    names.push(manifest);
  }
  return { ok: true, names: names.sort(), manifest };
}
