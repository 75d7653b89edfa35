// Sizes: an integer times its unit. Unknown unit words get a suggestion, and a
// product that leaves 64 bits is an error rather than a silent wrap.
import type { ExprAst } from '../grammar/ast.js';
import { UNIT_SCALE } from '../grammar/tokens.js';
import { U64_MASK } from './arith.js';
import { diag } from './codes.js';
import type { Diagnostic } from './diagnostic.js';

/** Common spellings of the units that mean the same powers of 1024. */
const LOOKALIKES: Record<string, string> = {
  b: 'B', byte: 'B', bytes: 'B',
  k: 'KiB', kb: 'KiB', kib: 'KiB', kilobytes: 'KiB',
  m: 'MiB', mb: 'MiB', mib: 'MiB', megabytes: 'MiB',
  g: 'GiB', gb: 'GiB', gib: 'GiB', gigabytes: 'GiB',
  t: 'TiB', tb: 'TiB', tib: 'TiB', terabytes: 'TiB',
  pg: 'pages', pgs: 'pages',
};

export function unitSuggestion(word: string): string | undefined {
  return LOOKALIKES[word.toLowerCase()];
}

/** Value in bytes (or the plain number without a unit); undefined after reporting an error. */
export function literalValue(e: Extract<ExprAst, { kind: 'int' }>, out: Diagnostic[]): bigint | undefined {
  const value = e.literal.value;
  if (value > U64_MASK) return undefined; // reported by the lexer
  if (e.unit === undefined) return value;
  const scale = UNIT_SCALE[e.unit.name];
  if (scale === undefined) {
    const s = unitSuggestion(e.unit.name);
    out.push(diag('unknownUnit', e.unit.span, { unit: e.unit.name, suggest: s ? `; did you mean ${s}?` : '' }));
    return undefined;
  }
  const bytes = value * scale;
  if (bytes > U64_MASK) {
    out.push(diag('sizeOverflow', e.span, { text: '`' + e.literal.text + ' ' + e.unit.name + '`' }));
    return undefined;
  }
  return bytes;
}
