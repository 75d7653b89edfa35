// Diagnostics the code generator and build can give (PFP9xxx). Checked input
// never reaches PFP9001/PFP9004: they are faultc's own bugs, reported with
// what the C compiler said so they can be fixed. PFP9002/9003 are the user's.
import type { Diagnostic, Severity } from '../compiler/diagnostic.js';
import type { Span } from '../compiler/ir.js';

export const CODEGEN_CODES = {
  ccFailed: {
    code: 'PFP9001',
    severity: 'error',
    message: 'internal error: the C compiler rejected generated code ({file})',
    hint: 'this is a faultc bug; please report it with the policy and this output',
  },
  noSuchPolicy: {
    code: 'PFP9002',
    severity: 'error',
    message: 'no policy named `{name}` in this file (it has: {names})',
  },
  writeFailed: {
    code: 'PFP9003',
    severity: 'error',
    message: 'cannot write the output: {reason}',
  },
  emitRefused: {
    code: 'PFP9004',
    severity: 'error',
    message: 'internal error: code generation refused the checked policy: {reason}',
    hint: 'this is a faultc bug; please report it with the policy',
  },
} as const satisfies Record<string, { code: string; severity: Severity; message: string; hint?: string }>;

export type CodegenCodeName = keyof typeof CODEGEN_CODES;

/** Codes whose cause is faultc itself (exit status 4), not the policy. */
export const INTERNAL_CODES: ReadonlySet<string> = new Set([
  CODEGEN_CODES.ccFailed.code,
  CODEGEN_CODES.writeFailed.code,
  CODEGEN_CODES.emitRefused.code,
]);

export function codegenDiag(name: CodegenCodeName, span: Span, args: Record<string, string>, detail?: string): Diagnostic {
  const entry = CODEGEN_CODES[name];
  const message = entry.message.replace(/\{(\w+)\}/g, (whole, k: string) => args[k] ?? whole);
  const d: Diagnostic = { code: entry.code, severity: entry.severity, message: detail ? `${message}\n${detail}` : message, span };
  if ('hint' in entry) d.hint = entry.hint;
  return d;
}
