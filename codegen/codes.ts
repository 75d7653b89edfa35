// The code generator's diagnostics (PFP9xxx) come from the one table in
// base/codes.ts; this file only adds what the build needs on top.
import { CODES, diag } from '../base/codes.js';
import type { Diagnostic } from '../base/diagnostic.js';
import type { Span } from '../base/span.js';

export type CodegenCodeName = 'ccFailed' | 'ccMissing' | 'noSuchPolicy' | 'writeFailed' | 'emitRefused';

/** Codes that name something missing on this machine (exit status 3), not an error in the policy. */
export const MISSING_TOOL_CODES: ReadonlySet<string> = new Set([CODES.ccMissing.code]);

/** Codes whose cause is faultc itself (exit status 4), not the policy. */
export const INTERNAL_CODES: ReadonlySet<string> = new Set([CODES.ccFailed.code, CODES.writeFailed.code, CODES.emitRefused.code]);

/** A build diagnostic; `detail` (e.g. what the C compiler said) follows the message. */
export function codegenDiag(name: CodegenCodeName, span: Span, args: Record<string, string>, detail?: string): Diagnostic {
  const d = diag(name, span, args);
  if (detail) d.message = `${d.message}\n${detail}`;
  return d;
}
