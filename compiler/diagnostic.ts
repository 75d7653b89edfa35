// A compiler message: errors are values inside the compiler, never exceptions.
import type { Span } from './ir.js';

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  /** Stable code from the table in codes.ts, e.g. `PFP2001`. */
  code: string;
  severity: Severity;
  message: string;
  span: Span;
  hint?: string;
}

export type Result<T> =
  | { ok: true; value: T; diagnostics: Diagnostic[] }
  | { ok: false; diagnostics: Diagnostic[] };
