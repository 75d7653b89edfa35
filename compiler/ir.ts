// The checked policy IR: what the compiler hands to codegen, the reference
// evaluator and the runtime. Everything here has passed every check; nothing in
// it refers back to source text except spans (for #line and messages).
import type { Span } from '../base/span.js';

export const HANDLERS = ['missing', 'write'] as const;
export type Handler = (typeof HANDLERS)[number];

export const BINARY_OPS = [
  '+', '-', '*', '/', '%', '<<', '>>', '&', '|',
  '<', '<=', '>', '>=', '==', '!=',
  'and', 'or',
] as const;
export type BinaryOp = (typeof BINARY_OPS)[number];

/** Values known only when the fault happens. */
export const FAULT_VARS = ['offset', 'page', 'address', 'read', 'write'] as const;
export type FaultVar = (typeof FAULT_VARS)[number];

export type Expr =
  /**
   * unit: a byte count's unit word (a key of UNIT_SCALE), as the source wrote
   * it (`64 KiB`), or the one it reads best in for a region's size and for
   * sums of sizes; generated C writes the value in it after the constant.
   */
  | { kind: 'const'; value: bigint; unit?: string; span: Span }
  | { kind: 'var'; name: FaultVar; span: Span }
  /** `<source>.size`: known at load time, passed to the decision function. */
  | { kind: 'sourceSize'; source: number; span: Span }
  /** `<page> in <set>`: 1 when that page of the faulting region is in the run-time set, else 0. */
  | { kind: 'inSet'; set: number; page: Expr; span: Span }
  | { kind: 'binary'; op: BinaryOp; left: Expr; right: Expr; span: Span }
  | { kind: 'not'; operand: Expr; span: Span };

/** `block`: the naturally aligned block of `pages` pages that holds the faulting page. */
export const PREFETCH_DIRECTIONS = ['ahead', 'behind', 'around', 'block'] as const;
export type PrefetchDirection = (typeof PREFETCH_DIRECTIONS)[number];

export type Stmt =
  | { kind: 'if'; cond: Expr; then: Stmt[]; else: Stmt[]; span: Span }
  // resolving actions (on missing)
  | { kind: 'zero'; span: Span }
  | { kind: 'fill'; byte: number; span: Span }
  | { kind: 'copy'; source: number; at: Expr; span: Span }
  | { kind: 'sigbus'; span: Span }
  | { kind: 'defer'; span: Span }
  // modifiers
  | { kind: 'prefetch'; pages: number; direction: PrefetchDirection; span: Span }
  | { kind: 'notify'; span: Span }
  // on write
  | { kind: 'trackDirty'; span: Span };

/** Where a source's bytes come from (`source <id> = <kind> "..."`). */
export const SOURCE_KINDS = ['file', 'http', 'criu'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

export interface SourceIR {
  id: string;
  index: number;
  /** Absent means `file`. */
  kind?: SourceKind;
  /** Path (or URL) as written in the policy. */
  path: string;
  /** Absolute path: relative paths resolved against the .pfp file's folder; for http, the URL. */
  resolvedPath: string;
  span: Span;
}

/** `set <id>`: pages the program adds and removes at run time (libfaultc); each region has its own contents. */
export interface SetIR {
  id: string;
  index: number;
  span: Span;
}

/**
 * The areas of a process image a region takes (`region <id> in <image> ...`):
 * `[heap]`, `[stack]`, a mapped file, the anonymous ones, or an address range
 * (docs/criu.md). A lazy page belongs to the first region that takes it.
 */
export type ImageSelect =
  | { kind: 'heap' }
  | { kind: 'stack' }
  | { kind: 'file'; path: string }
  | { kind: 'anonymous' }
  | { kind: 'range'; start: bigint; size: bigint };

export interface RegionIR {
  id: string;
  index: number;
  /** Bytes; a whole number of pages (0 for a region sized by its image at load time). */
  size: bigint;
  /** Present for a region taken from a `criu` source's image. */
  image?: { source: number; select: ImageSelect };
  /** Fixed address, when the policy gives one (page-aligned). */
  at?: bigint;
  /** Absent when the region has no `on missing` block: faults get the default (zero). */
  onMissing?: Stmt[];
  onWrite?: Stmt[];
  span: Span;
}

export const ENGINE_NAMES = ['kernel', 'uffd', 'trace'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

export interface PolicyIR {
  name: string;
  sources: SourceIR[];
  regions: RegionIR[];
  /** Run-time page sets; absent when the policy declares none. */
  sets?: SetIR[];
  /** Engines that can run this policy in full (e.g. `defer` excludes none but changes uffd semantics). */
  engines: EngineName[];
  span: Span;
}

export interface ProgramIR {
  /** Absolute path of the .pfp file. */
  file: string;
  /** sha256 of the file's bytes, hex. */
  sourceHash: string;
  policies: PolicyIR[];
}
