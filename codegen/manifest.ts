// <policy>.policy.json: the versioned manifest every engine reads. It names the
// regions, sources and artifacts of one compiled policy, carries the checked IR
// (bigints as decimal strings) and the ABI layouts, and the sha256 of each
// artifact so a loader can refuse files that do not belong together.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import type { EngineName, Expr, PolicyIR, ProgramIR, SourceKind, Stmt } from '../compiler/ir.js';
import type { Span } from '../base/span.js';
import { fileErrorReason, readInputFile } from '../compiler/files.js';
import { BINARY_OPS, ENGINE_NAMES, FAULT_VARS, PREFETCH_DIRECTIONS, SOURCE_KINDS } from '../compiler/ir.js';
import { ABI_LAYOUTS, ABI_VERSION } from '../abi/abi.js';
import { RuntimeError } from '../base/errors.js';
import { MAX_SETS } from '../base/limits.js';
import { UNIT_SCALE } from '../base/units.js';

/** A manifest is JSON of the policy's IR: far below this. */
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

export const MANIFEST_VERSION = 1;

export const ARTIFACT_KEYS = ['decideH', 'abiH', 'traceBpfC', 'traceBpfO', 'faultBpfC', 'faultBpfO', 'decideSo'] as const;
export type ArtifactKey = (typeof ARTIFACT_KEYS)[number];

/** File name (relative to the manifest) of each artifact, per policy. */
export function artifactFileName(base: string, key: ArtifactKey): string {
  switch (key) {
    case 'decideH':
      return `${base}.decide.h`;
    case 'abiH':
      return `${base}.abi.h`;
    case 'traceBpfC':
      return `${base}.trace.bpf.c`;
    case 'traceBpfO':
      return `${base}.trace.bpf.o`;
    case 'faultBpfC':
      return `${base}.fault.bpf.c`;
    case 'faultBpfO':
      return `${base}.fault.bpf.o`;
    case 'decideSo':
      return `${base}.decide.so`;
  }
}

export function manifestFileName(base: string): string {
  return `${base}.policy.json`;
}

export interface ManifestSource {
  id: string;
  index: number;
  /** Absent means `file` (written only for other kinds). */
  kind?: SourceKind;
  path: string;
  resolvedPath: string;
}

export interface ManifestRegion {
  id: string;
  index: number;
  size: bigint;
  at?: bigint;
}

export type ManifestArtifacts = Record<ArtifactKey, string | null>;

export interface Manifest {
  manifestVersion: typeof MANIFEST_VERSION;
  abiVersion: number;
  policy: string;
  /** Absolute path of the .pfp file compiled. */
  file: string;
  sourceHash: string;
  sources: ManifestSource[];
  regions: ManifestRegion[];
  engines: EngineName[];
  ir: PolicyIR;
  layouts: typeof ABI_LAYOUTS;
  /** File names relative to the manifest's folder; null when not emitted. */
  artifacts: ManifestArtifacts;
  /** sha256 (hex) of each artifact file, by file name. */
  hashes: Record<string, string>;
}

/** A manifest as read from disk: also the folder it lives in. */
export interface LoadedManifest extends Manifest {
  /** Absolute folder of the manifest: artifact names are relative to it. */
  dir: string;
}

export function sha256(content: string | Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}

// ---------------------------------------------------------------- writing

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function exprJson(e: Expr): Json {
  switch (e.kind) {
    case 'const':
      return e.unit === undefined
        ? { kind: 'const', value: e.value.toString(), span: spanJsonValue(e.span) }
        : { kind: 'const', value: e.value.toString(), unit: e.unit, span: spanJsonValue(e.span) };
    case 'var':
      return { kind: 'var', name: e.name, span: spanJsonValue(e.span) };
    case 'sourceSize':
      return { kind: 'sourceSize', source: e.source, span: spanJsonValue(e.span) };
    case 'binary':
      return { kind: 'binary', op: e.op, left: exprJson(e.left), right: exprJson(e.right), span: spanJsonValue(e.span) };
    case 'not':
      return { kind: 'not', operand: exprJson(e.operand), span: spanJsonValue(e.span) };
    case 'inSet':
      return { kind: 'inSet', set: e.set, page: exprJson(e.page), span: spanJsonValue(e.span) };
  }
}

/** A span as JSON: the same fields, in a fixed order. */
function spanJsonValue(s: Span): Json {
  return {
    file: s.file,
    startLine: s.startLine,
    startColumn: s.startColumn,
    endLine: s.endLine,
    endColumn: s.endColumn,
    startOffset: s.startOffset,
    endOffset: s.endOffset,
  };
}

function stmtJson(s: Stmt): Json {
  const span = spanJsonValue(s.span);
  switch (s.kind) {
    case 'if':
      return { kind: 'if', cond: exprJson(s.cond), then: s.then.map(stmtJson), else: s.else.map(stmtJson), span };
    case 'fill':
      return { kind: 'fill', byte: s.byte, span };
    case 'copy':
      return { kind: 'copy', source: s.source, at: exprJson(s.at), span };
    case 'prefetch':
      return { kind: 'prefetch', pages: s.pages, direction: s.direction, span };
    case 'zero':
    case 'sigbus':
    case 'defer':
    case 'notify':
    case 'trackDirty':
      return { kind: s.kind, span };
  }
}

function policyJson(p: PolicyIR): Json {
  return {
    name: p.name,
    sources: p.sources.map((s) => ({
      id: s.id,
      index: s.index,
      ...(s.kind && s.kind !== 'file' ? { kind: s.kind } : {}),
      path: s.path,
      resolvedPath: s.resolvedPath,
      span: spanJsonValue(s.span),
    })),
    regions: p.regions.map((r) => {
      const o: { [k: string]: Json } = { id: r.id, index: r.index, size: r.size.toString() };
      if (r.at !== undefined) o.at = r.at.toString();
      if (r.onMissing) o.onMissing = r.onMissing.map(stmtJson);
      if (r.onWrite) o.onWrite = r.onWrite.map(stmtJson);
      o.span = spanJsonValue(r.span);
      return o;
    }),
    ...(p.sets ? { sets: p.sets.map((s) => ({ id: s.id, index: s.index, span: spanJsonValue(s.span) })) } : {}),
    engines: [...p.engines],
    span: spanJsonValue(p.span),
  };
}

/**
 * The manifest text for one policy. `artifacts` maps each emitted artifact to
 * its content (for the hash); keys not given are recorded as null. Pure and
 * deterministic: fixed key order, no timestamps.
 */
export function renderManifest(
  program: ProgramIR,
  policy: PolicyIR,
  artifacts: Partial<Record<ArtifactKey, string | Uint8Array>>,
): string {
  const names: { [k: string]: Json } = {};
  const hashes: { [k: string]: Json } = {};
  for (const key of ARTIFACT_KEYS) {
    const content = artifacts[key];
    if (content === undefined) {
      names[key] = null;
    } else {
      const name = artifactFileName(policy.name, key);
      names[key] = name;
      hashes[name] = sha256(content);
    }
  }
  const layouts = JSON.parse(JSON.stringify(ABI_LAYOUTS)) as Json;
  const manifest: Json = {
    manifestVersion: MANIFEST_VERSION,
    abiVersion: ABI_VERSION,
    policy: policy.name,
    file: program.file,
    sourceHash: program.sourceHash,
    sources: policy.sources.map((s) => ({ id: s.id, index: s.index, ...(s.kind && s.kind !== 'file' ? { kind: s.kind } : {}), path: s.path, resolvedPath: s.resolvedPath })),
    regions: policy.regions.map((r) => {
      const o: { [k: string]: Json } = { id: r.id, index: r.index, size: r.size.toString() };
      if (r.at !== undefined) o.at = r.at.toString();
      return o;
    }),
    engines: [...policy.engines],
    ir: policyJson(policy),
    layouts,
    artifacts: names,
    hashes: Object.fromEntries(Object.keys(hashes).sort().map((k) => [k, hashes[k] ?? null])),
  };
  return JSON.stringify(manifest, null, 2) + '\n';
}

// ---------------------------------------------------------------- reading

export type ManifestErrorCode =
  | 'FAULTC_MANIFEST_READ'
  | 'FAULTC_MANIFEST_JSON'
  | 'FAULTC_MANIFEST_VERSION'
  | 'FAULTC_MANIFEST_ABI'
  | 'FAULTC_MANIFEST_SHAPE'
  | 'FAULTC_MANIFEST_HASH';

export interface ManifestProblem {
  code: ManifestErrorCode;
  message: string;
}

export type ManifestResult = { ok: true; value: LoadedManifest } | { ok: false; error: ManifestProblem };

/** Thrown by readManifest (the edge); parseManifest returns the same as a value. */
class ShapeError extends Error {}

type Obj = Record<string, unknown>;

function obj(v: unknown, where: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ShapeError(`${where}: expected an object`);
  return v as Obj;
}
function arr(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v)) throw new ShapeError(`${where}: expected an array`);
  return v;
}
function str(v: unknown, where: string): string {
  if (typeof v !== 'string') throw new ShapeError(`${where}: expected a string`);
  return v;
}
function int(v: unknown, where: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new ShapeError(`${where}: expected an integer in 0..${max}`);
  }
  return v;
}
function u64(v: unknown, where: string): bigint {
  if (typeof v !== 'string' || !/^(0|[1-9][0-9]{0,19})$/.test(v)) {
    throw new ShapeError(`${where}: expected an unsigned decimal string`);
  }
  const b = BigInt(v);
  if (b >= 1n << 64n) throw new ShapeError(`${where}: out of 64-bit range`);
  return b;
}
function oneOf<T extends string>(v: unknown, allowed: readonly T[], where: string): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ShapeError(`${where}: expected one of ${allowed.join(', ')}`);
  }
  return v as T;
}
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
function ident(v: unknown, where: string): string {
  const s = str(v, where);
  if (!IDENT.test(s)) throw new ShapeError(`${where}: not an identifier`);
  return s;
}
/** An artifact or manifest file name: a plain name in the manifest's own folder. */
function plainFileName(v: unknown, where: string): string {
  const s = str(v, where);
  if (s === '' || s === '.' || s === '..' || s.includes('/') || s.includes('\\') || s.includes('\0')) {
    throw new ShapeError(`${where}: not a plain file name`);
  }
  return s;
}

function readSpan(v: unknown, where: string): Span {
  const o = obj(v, where);
  return {
    file: str(o.file, `${where}.file`),
    startLine: int(o.startLine, `${where}.startLine`),
    startColumn: int(o.startColumn, `${where}.startColumn`),
    endLine: int(o.endLine, `${where}.endLine`),
    endColumn: int(o.endColumn, `${where}.endColumn`),
    startOffset: int(o.startOffset, `${where}.startOffset`),
    endOffset: int(o.endOffset, `${where}.endOffset`),
  };
}

/** Bounds recursion on hostile input; the compiler's own nesting limit is lower. */
const MAX_DEPTH = 256;

function readExpr(v: unknown, where: string, nSources: number, depth: number): Expr {
  if (depth > MAX_DEPTH) throw new ShapeError(`${where}: nested too deeply`);
  const o = obj(v, where);
  const span = readSpan(o.span, `${where}.span`);
  const kind = oneOf(o.kind, ['const', 'var', 'sourceSize', 'binary', 'not', 'inSet'] as const, `${where}.kind`);
  switch (kind) {
    case 'const':
      if (o.unit === undefined) return { kind, value: u64(o.value, `${where}.value`), span };
      return { kind, value: u64(o.value, `${where}.value`), unit: oneOf(o.unit, Object.keys(UNIT_SCALE), `${where}.unit`), span };
    case 'var':
      return { kind, name: oneOf(o.name, FAULT_VARS, `${where}.name`), span };
    case 'sourceSize':
      return { kind, source: int(o.source, `${where}.source`, nSources - 1), span };
    case 'binary':
      return {
        kind,
        op: oneOf(o.op, BINARY_OPS, `${where}.op`),
        left: readExpr(o.left, `${where}.left`, nSources, depth + 1),
        right: readExpr(o.right, `${where}.right`, nSources, depth + 1),
        span,
      };
    case 'not':
      return { kind, operand: readExpr(o.operand, `${where}.operand`, nSources, depth + 1), span };
    case 'inSet':
      return { kind, set: int(o.set, `${where}.set`, MAX_SETS - 1), page: readExpr(o.page, `${where}.page`, nSources, depth + 1), span };
  }
}

function readStmts(v: unknown, where: string, nSources: number, depth: number): Stmt[] {
  if (depth > MAX_DEPTH) throw new ShapeError(`${where}: nested too deeply`);
  return arr(v, where).map((s, i) => readStmt(s, `${where}[${i}]`, nSources, depth));
}

function readStmt(v: unknown, where: string, nSources: number, depth: number): Stmt {
  const o = obj(v, where);
  const span = readSpan(o.span, `${where}.span`);
  const kind = oneOf(
    o.kind,
    ['if', 'zero', 'fill', 'copy', 'sigbus', 'defer', 'prefetch', 'notify', 'trackDirty'] as const,
    `${where}.kind`,
  );
  switch (kind) {
    case 'if':
      return {
        kind,
        cond: readExpr(o.cond, `${where}.cond`, nSources, depth + 1),
        then: readStmts(o.then, `${where}.then`, nSources, depth + 1),
        else: readStmts(o.else, `${where}.else`, nSources, depth + 1),
        span,
      };
    case 'fill':
      return { kind, byte: int(o.byte, `${where}.byte`, 255), span };
    case 'copy':
      return {
        kind,
        source: int(o.source, `${where}.source`, nSources - 1),
        at: readExpr(o.at, `${where}.at`, nSources, depth + 1),
        span,
      };
    case 'prefetch':
      return {
        kind,
        pages: int(o.pages, `${where}.pages`, 0xffffffff),
        direction: oneOf(o.direction, PREFETCH_DIRECTIONS, `${where}.direction`),
        span,
      };
    case 'zero':
    case 'sigbus':
    case 'defer':
    case 'notify':
    case 'trackDirty':
      return { kind, span };
  }
}

/** `kind` is written only for sources that are not files. */
function sourceKind(v: unknown, where: string): { kind?: SourceKind } {
  if (v === undefined) return {};
  const kind = oneOf(v, SOURCE_KINDS, where);
  return kind === 'file' ? {} : { kind };
}

function readPolicy(v: unknown): PolicyIR {
  const o = obj(v, 'ir');
  const sources = arr(o.sources, 'ir.sources').map((s, i) => {
    const so = obj(s, `ir.sources[${i}]`);
    return {
      id: ident(so.id, `ir.sources[${i}].id`),
      index: int(so.index, `ir.sources[${i}].index`),
      ...sourceKind(so.kind, `ir.sources[${i}].kind`),
      path: str(so.path, `ir.sources[${i}].path`),
      resolvedPath: str(so.resolvedPath, `ir.sources[${i}].resolvedPath`),
      span: readSpan(so.span, `ir.sources[${i}].span`),
    };
  });
  sources.forEach((s, i) => {
    if (s.index !== i) throw new ShapeError(`ir.sources[${i}].index: expected ${i}`);
  });
  const n = sources.length;
  const regions = arr(o.regions, 'ir.regions').map((r, i) => {
    const where = `ir.regions[${i}]`;
    const ro = obj(r, where);
    const region: PolicyIR['regions'][number] = {
      id: ident(ro.id, `${where}.id`),
      index: int(ro.index, `${where}.index`),
      size: u64(ro.size, `${where}.size`),
      span: readSpan(ro.span, `${where}.span`),
    };
    if (region.index !== i) throw new ShapeError(`${where}.index: expected ${i}`);
    if (ro.at !== undefined) region.at = u64(ro.at, `${where}.at`);
    if (ro.onMissing !== undefined) region.onMissing = readStmts(ro.onMissing, `${where}.onMissing`, n, 0);
    if (ro.onWrite !== undefined) region.onWrite = readStmts(ro.onWrite, `${where}.onWrite`, n, 0);
    return region;
  });
  const policy: PolicyIR = {
    name: ident(o.name, 'ir.name'),
    sources,
    regions,
    engines: arr(o.engines, 'ir.engines').map((e, i) => oneOf(e, ENGINE_NAMES, `ir.engines[${i}]`)),
    span: readSpan(o.span, 'ir.span'),
  };
  if (o.sets !== undefined) {
    policy.sets = arr(o.sets, 'ir.sets').map((s, i) => {
      const so = obj(s, `ir.sets[${i}]`);
      const index = int(so.index, `ir.sets[${i}].index`, MAX_SETS - 1);
      if (index !== i) throw new ShapeError(`ir.sets[${i}].index: expected ${i}`);
      return { id: ident(so.id, `ir.sets[${i}].id`), index, span: readSpan(so.span, `ir.sets[${i}].span`) };
    });
  }
  return policy;
}

function sameLayouts(v: unknown): boolean {
  return JSON.stringify(v) === JSON.stringify(ABI_LAYOUTS);
}

/** Validates a manifest's text; `path` is where it was read from (for `dir`). */
export function parseManifest(text: string, path: string): ManifestResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: { code: 'FAULTC_MANIFEST_JSON', message: `${path}: not JSON: ${(e as Error).message}` } };
  }
  try {
    const o = obj(raw, 'manifest');
    if (o.manifestVersion !== MANIFEST_VERSION) {
      return {
        ok: false,
        error: {
          code: 'FAULTC_MANIFEST_VERSION',
          message: `${path}: manifest version ${JSON.stringify(o.manifestVersion)}, this faultc reads version ${MANIFEST_VERSION}: recompile the policy`,
        },
      };
    }
    if (o.abiVersion !== ABI_VERSION || !sameLayouts(o.layouts)) {
      return {
        ok: false,
        error: {
          code: 'FAULTC_MANIFEST_ABI',
          message: `${path}: built for ABI ${JSON.stringify(o.abiVersion)} with other struct layouts; this faultc uses ABI ${ABI_VERSION}: recompile the policy`,
        },
      };
    }
    const ir = readPolicy(o.ir);
    const policy = ident(o.policy, 'policy');
    if (policy !== ir.name) throw new ShapeError('policy: differs from ir.name');
    const sources = arr(o.sources, 'sources').map((s, i) => {
      const so = obj(s, `sources[${i}]`);
      return {
        id: ident(so.id, `sources[${i}].id`),
        index: int(so.index, `sources[${i}].index`),
        ...sourceKind(so.kind, `sources[${i}].kind`),
        path: str(so.path, `sources[${i}].path`),
        resolvedPath: str(so.resolvedPath, `sources[${i}].resolvedPath`),
      };
    });
    if (sources.length !== ir.sources.length || sources.some((s, i) => s.id !== ir.sources[i]?.id || s.index !== i)) {
      throw new ShapeError('sources: differ from ir.sources');
    }
    const regions = arr(o.regions, 'regions').map((r, i) => {
      const ro = obj(r, `regions[${i}]`);
      const region: ManifestRegion = {
        id: ident(ro.id, `regions[${i}].id`),
        index: int(ro.index, `regions[${i}].index`),
        size: u64(ro.size, `regions[${i}].size`),
      };
      if (ro.at !== undefined) region.at = u64(ro.at, `regions[${i}].at`);
      return region;
    });
    if (
      regions.length !== ir.regions.length ||
      regions.some((r, i) => {
        const x = ir.regions[i];
        return !x || r.id !== x.id || r.index !== i || r.size !== x.size || r.at !== x.at;
      })
    ) {
      throw new ShapeError('regions: differ from ir.regions');
    }
    const ao = obj(o.artifacts, 'artifacts');
    const artifacts = {} as ManifestArtifacts;
    for (const key of ARTIFACT_KEYS) {
      const a = ao[key];
      artifacts[key] = a === null || a === undefined ? null : plainFileName(a, `artifacts.${key}`);
    }
    const ho = obj(o.hashes, 'hashes');
    const hashes: Record<string, string> = {};
    for (const [k, h] of Object.entries(ho)) {
      const hv = str(h, `hashes.${k}`);
      if (!/^[0-9a-f]{64}$/.test(hv)) throw new ShapeError(`hashes.${k}: not a sha256`);
      hashes[plainFileName(k, 'hashes key')] = hv;
    }
    for (const key of ARTIFACT_KEYS) {
      const name = artifacts[key];
      if (name !== null && hashes[name] === undefined) throw new ShapeError(`hashes: no hash for ${name}`);
    }
    const sourceHash = str(o.sourceHash, 'sourceHash');
    if (!/^[0-9a-f]{64}$/.test(sourceHash)) throw new ShapeError('sourceHash: not a sha256');
    return {
      ok: true,
      value: {
        manifestVersion: MANIFEST_VERSION,
        abiVersion: ABI_VERSION,
        policy,
        file: str(o.file, 'file'),
        sourceHash,
        sources,
        regions,
        engines: arr(o.engines, 'engines').map((e, i) => oneOf(e, ENGINE_NAMES, `engines[${i}]`)),
        ir,
        layouts: ABI_LAYOUTS,
        artifacts,
        hashes,
        dir: dirname(path),
      },
    };
  } catch (e) {
    if (e instanceof ShapeError) {
      return { ok: false, error: { code: 'FAULTC_MANIFEST_SHAPE', message: `${path}: ${e.message}` } };
    }
    throw e;
  }
}

/** Absolute path of an artifact, or null when the policy was compiled without it. */
export function artifactPath(m: LoadedManifest, key: ArtifactKey): string | null {
  const name = m.artifacts[key];
  return name === null ? null : join(m.dir, name);
}

/** Reads and validates a manifest; checks each artifact's sha256 unless told not to. */
export async function readManifestResult(path: string, opts: { verifyHashes?: boolean } = {}): Promise<ManifestResult> {
  // A regular file, read without blocking and with a bound (see compiler/input-file.ts).
  const read = await readInputFile(path, MAX_MANIFEST_BYTES);
  if (!read.ok) {
    const why = 'tooLarge' in read ? `${read.tooLarge} bytes, more than a manifest may be (${MAX_MANIFEST_BYTES})` : read.reason;
    return { ok: false, error: { code: 'FAULTC_MANIFEST_READ', message: `${path}: ${why}` } };
  }
  const r = parseManifest(read.bytes.toString('utf8'), path);
  if (!r.ok || opts.verifyHashes === false) return r;
  for (const key of ARTIFACT_KEYS) {
    const name = r.value.artifacts[key];
    if (name === null) continue;
    let bytes: Buffer;
    try {
      bytes = await readFile(join(r.value.dir, name));
    } catch (e) {
      return { ok: false, error: { code: 'FAULTC_MANIFEST_READ', message: `${join(r.value.dir, name)}: ${fileErrorReason(e)}` } };
    }
    if (sha256(bytes) !== r.value.hashes[name]) {
      return {
        ok: false,
        error: {
          code: 'FAULTC_MANIFEST_HASH',
          message: `${join(r.value.dir, name)} does not match ${basename(path)} (sha256 differs): recompile the policy`,
        },
      };
    }
  }
  return r;
}

/** Reads a manifest or throws a RuntimeError carrying the code. */
export async function readManifest(path: string, opts: { verifyHashes?: boolean } = {}): Promise<LoadedManifest> {
  const r = await readManifestResult(path, opts);
  if (!r.ok) throw new RuntimeError(r.error.code, r.error.message);
  return r.value;
}
