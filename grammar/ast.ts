// The syntax tree: what the text says, with a span on every node. Nothing here
// is checked yet; compiler/ resolves names, units and paths into the IR.
import type { Span } from '../base/span.js';

export interface Ident {
  name: string;
  span: Span;
}

export interface FileAst {
  file: string;
  policies: PolicyAst[];
  span: Span;
}

export interface PolicyAst {
  name: Ident;
  sources: SourceAst[];
  regions: RegionAst[];
  /** `set <id>` declarations: run-time page sets. */
  sets?: SetAst[];
  span: Span;
}

export interface SourceAst {
  name: Ident;
  /** The word after `=`: `file` is the only kind so far. */
  kind: Ident;
  path: StringLit;
  span: Span;
}

/** `set <id>`: a run-time page set, filled by the program (libfaultc), tested with `in`. */
export interface SetAst {
  name: Ident;
  span: Span;
}

export interface StringLit {
  /** Decoded value (escapes applied). */
  value: string;
  span: Span;
}

export interface RegionAst {
  name: Ident;
  /** Absent for a region taken from an image (`in`), unless it is an address range. */
  size?: ExprAst;
  at?: ExprAst;
  /** `region <id> in <source> <what>`: areas of a process image (a `criu` source). */
  image?: ImageRegionAst;
  handlers: HandlerAst[];
  span: Span;
}

/**
 * Which areas of the image: a string (`"[heap]"`, `"[stack]"` or a mapped
 * file's absolute path), a word (`anonymous`; any word parses so the checker
 * can name the ones that exist), or an address range `at <expr> size <expr>`
 * (kept in the region's `at` and `size`).
 */
export interface ImageRegionAst {
  source: Ident;
  name?: StringLit;
  word?: Ident;
  span: Span;
}

export interface HandlerAst {
  /** `missing`, `write`, or whatever name the text gave (checked later). */
  name: Ident;
  body: StmtAst[];
  /** Span of `on <name>`, where messages about the handler as a whole point. */
  headSpan: Span;
  span: Span;
}

export type StmtAst =
  | { kind: 'if'; cond: ExprAst; then: StmtAst[]; thenSpan: Span; else?: StmtAst[]; elseSpan?: Span; span: Span }
  | { kind: 'zero'; span: Span }
  | { kind: 'fill'; value: ExprAst; span: Span }
  | { kind: 'copy'; source: Ident; at?: ExprAst; span: Span }
  | { kind: 'sigbus'; span: Span }
  | { kind: 'defer'; span: Span }
  /** `prefetch N pages [direction]`, or `prefetch block N <unit>` (count and unit give the block's size). */
  | { kind: 'prefetch'; count: IntLit; direction?: Ident; block?: { unit: Ident; span: Span }; span: Span }
  | { kind: 'notify'; span: Span }
  | { kind: 'trackDirty'; span: Span };

export interface IntLit {
  /** Digits as written, `_` removed. */
  value: bigint;
  text: string;
  span: Span;
}

export type AstBinaryOp =
  | '+' | '-' | '*' | '/' | '%' | '<<' | '>>' | '&' | '|'
  | '<' | '<=' | '>' | '>=' | '==' | '!='
  | 'and' | 'or' | 'in';

export type ExprAst =
  /** A number, optionally with a unit word (`64 KiB`, `1 page`, or an unknown word to report). */
  | { kind: 'int'; literal: IntLit; unit?: Ident; span: Span }
  | { kind: 'var'; name: 'offset' | 'page' | 'address' | 'read' | 'write'; span: Span }
  /** A bare name used as a value (an error the compiler explains). */
  | { kind: 'name'; name: Ident; span: Span }
  | { kind: 'member'; object: Ident; property: Ident; span: Span }
  | { kind: 'binary'; op: AstBinaryOp; left: ExprAst; right: ExprAst; opSpan: Span; span: Span }
  | { kind: 'not'; operand: ExprAst; span: Span }
  /** Stands in for an expression the parser could not read (only with syntax errors). */
  | { kind: 'error'; span: Span };
