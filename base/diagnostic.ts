// A compiler message: errors are values inside the compiler, never exceptions.
import type { Span } from './span.js';

export type Severity = 'error' | 'warning';

/** Another place a diagnostic refers to: the first declaration of a name, the `{` left open. */
export interface Related {
  message: string;
  span: Span;
}

export interface Diagnostic {
  /** Stable code from the table in codes.ts, e.g. `PFP2001`. */
  code: string;
  severity: Severity;
  message: string;
  span: Span;
  hint?: string;
  related?: Related[];
  /** The word the span should be replaced with (the did-you-mean of the hint): editors offer it as a quick fix. */
  suggestion?: string;
}

export type Result<T> =
  | { ok: true; value: T; diagnostics: Diagnostic[] }
  | { ok: false; diagnostics: Diagnostic[] };
