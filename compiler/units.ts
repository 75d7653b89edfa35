// Sizes: an integer times its unit. Unknown unit words get a suggestion, and a
// product that leaves 64 bits is an error rather than a silent wrap.
import type { ExprAst } from '../grammar/ast.js';
import { U64_MAX } from '../base/limits.js';
import { UNIT_SCALE, unitSuggestion } from '../base/units.js';
import { diag } from '../base/codes.js';
import type { Diagnostic } from '../base/diagnostic.js';

/** Value in bytes (or the plain number without a unit); undefined after reporting an error. */
export function literalValue(e: Extract<ExprAst, { kind: 'int' }>, out: Diagnostic[]): bigint | undefined {
  const value = e.literal.value;
  if (value > U64_MAX) return undefined; // reported by the lexer
  if (e.unit === undefined) return value;
  const scale = UNIT_SCALE[e.unit.name];
  if (scale === undefined) {
    const s = unitSuggestion(e.unit.name);
    out.push(diag('unknownUnit', e.unit.span, { unit: e.unit.name, suggest: s ? `; did you mean ${s}?` : '' }));
    return undefined;
  }
  const bytes = value * scale;
  if (bytes > U64_MAX) {
    out.push(diag('sizeOverflow', e.span, { text: '`' + e.literal.text + ' ' + e.unit.name + '`' }));
    return undefined;
  }
  return bytes;
}
