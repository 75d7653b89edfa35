// The checked policy IR: what the compiler hands to codegen, the reference
// evaluator and the runtime. Everything here has passed every check; nothing in
// it refers back to source text except spans (for #line and messages).

/** A place in a .pfp file. Lines and columns start at 1; offsets at 0. Ends are exclusive (end column/offset is just past the last character). */
export interface Span {
  file: string;
  startLine: number;
  startColumn: number;
  endLine: number;
  endColumn: number;
  startOffset: number;
  endOffset: number;
}

export const PAGE_SIZE = 4096;
/** Sources one policy may name: bounded so the fault path needs no loop. */
export const MAX_SOURCES = 8;
/** Run-time page sets one policy may declare (native/src/lib/faultc_sets.h). */
export const MAX_SETS = 8;

export type Handler = 'missing' | 'write';

export type BinaryOp =
  | '+' | '-' | '*' | '/' | '%' | '<<' | '>>' | '&' | '|'
  | '<' | '<=' | '>' | '>=' | '==' | '!='
  | 'and' | 'or';

/** Values known only when the fault happens. */
export type FaultVar = 'offset' | 'page' | 'address' | 'read' | 'write';

export type Expr =
  | { kind: 'const'; value: bigint; span: Span }
  | { kind: 'var'; name: FaultVar; span: Span }
  /** `<source>.size`: known at load time, passed to the decision function. */
  | { kind: 'sourceSize'; source: number; span: Span }
  /** `<page> in <set>`: 1 when that page of the faulting region is in the run-time set, else 0. */
  | { kind: 'inSet'; set: number; page: Expr; span: Span }
  | { kind: 'binary'; op: BinaryOp; left: Expr; right: Expr; span: Span }
  | { kind: 'not'; operand: Expr; span: Span };

/** `block`: the naturally aligned block of `pages` pages that holds the faulting page. */
export type PrefetchDirection = 'ahead' | 'behind' | 'around' | 'block';

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
export const SOURCE_KINDS = ['file', 'http'] as const;
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

export interface RegionIR {
  id: string;
  index: number;
  /** Bytes; a whole number of pages. */
  size: bigint;
  /** Fixed address, when the policy gives one (page-aligned). */
  at?: bigint;
  /** Absent when the region has no `on missing` block: faults get the default (zero). */
  onMissing?: Stmt[];
  onWrite?: Stmt[];
  span: Span;
}

export type EngineName = 'kernel' | 'uffd' | 'trace';

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
