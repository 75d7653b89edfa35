// Lexing plus the checks a regular expression cannot make: escapes, NUL,
// integer shape and range, name length, and the nesting bound that protects
// the parser's stack.
import type { IToken } from 'chevrotain';
import type { Diagnostic } from '../base/diagnostic.js';
import { diag } from '../base/codes.js';
import { MAX_NAME_LENGTH, MAX_NESTING, U64_MAX } from '../base/limits.js';
import type { SourceText } from '../base/source-text.js';
import * as T from './tokens.js';
import { scan } from './scan.js';

export interface LexResult {
  tokens: IToken[];
  diagnostics: Diagnostic[];
  /** False when nesting went past the bound: the tokens must not be parsed. */
  parsable: boolean;
}

/** Shows a character in a message: printable ASCII in backticks, anything else as U+XXXX. */
export function showChar(ch: string): string {
  const code = ch.codePointAt(0) ?? 0;
  if (code >= 0x21 && code < 0x7f) return '`' + ch + '`';
  return 'U+' + code.toString(16).toUpperCase().padStart(4, '0');
}

export function tokenSpanEnd(tok: IToken): number {
  return tok.startOffset + tok.image.length;
}

/** Decodes a string token's image; reports bad escapes and NUL. */
export function decodeString(tok: IToken, src: SourceText, out: Diagnostic[]): string {
  const image = tok.image;
  const closed = tok.tokenType === T.StringLit;
  const body = image.slice(1, closed ? -1 : image.length);
  let value = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    const at = tok.startOffset + 1 + i;
    if (ch === '\0') {
      out.push(diag('nulInString', src.span(at, at + 1)));
      continue;
    }
    if (ch !== '\\') {
      value += ch;
      continue;
    }
    const next = body[i + 1];
    if (next === undefined) break; // a trailing backslash of an unterminated string
    i++;
    if (next === '"' || next === '\\') value += next;
    else if (next === 'n') value += '\n';
    else out.push(diag('invalidEscape', src.span(at, at + 2), { escape: '`\\' + (next === '\0' ? '0' : next) + '`' }));
  }
  return value;
}

const DECIMAL = /^[0-9](?:_?[0-9])*$/;
const HEX = /^0x[0-9A-Fa-f](?:_?[0-9A-Fa-f])*$/;

/** Value of an integer token, or undefined after reporting why it has none. */
export function integerValue(tok: IToken, src: SourceText, out: Diagnostic[]): bigint | undefined {
  const text = tok.image;
  // The span is made only for a diagnostic: most integers are fine, and a 1,000-region file has thousands.
  const span = () => src.span(tok.startOffset, tokenSpanEnd(tok));
  if (!DECIMAL.test(text) && !HEX.test(text)) {
    out.push(diag('malformedInteger', span(), { text: '`' + text + '`' }));
    return undefined;
  }
  const value = BigInt(text.includes('_') ? text.replace(/_/g, '') : text);
  if (value > U64_MAX) {
    out.push(diag('integerTooLarge', span(), { text: '`' + text + '`' }));
    return undefined;
  }
  return value;
}

export function lex(src: SourceText): LexResult {
  const result = scan(src.text);
  const diagnostics: Diagnostic[] = [];
  for (const e of result.errors) {
    const ch = String.fromCodePoint(src.text.codePointAt(e.offset) ?? 0);
    const hint = ch === '!' ? 'write `not` (or `!=` to compare)' : undefined;
    diagnostics.push(diag('unexpectedCharacter', src.span(e.offset, e.offset + Math.max(1, e.length)), { char: showChar(ch) }, hint));
  }
  let depth = 0;
  let parsable = true;
  // Indexed: this runs once per process, mostly before the code is optimised,
  // where each step of an iterator is an object.
  const tokens = result.tokens;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    switch (tok.tokenType) {
      case T.UnterminatedString:
        diagnostics.push(diag('unterminatedString', src.span(tok.startOffset, tokenSpanEnd(tok))));
        decodeString(tok, src, diagnostics);
        // The parser sees an ordinary string so one missing quote is one error.
        tok.tokenType = T.StringLit;
        tok.tokenTypeIdx = T.StringLit.tokenTypeIdx!;
        break;
      case T.StringLit:
        decodeString(tok, src, diagnostics);
        break;
      case T.Integer:
        integerValue(tok, src, diagnostics);
        break;
      case T.Identifier:
        if (tok.image.length > MAX_NAME_LENGTH) {
          diagnostics.push(
            diag('identifierTooLong', src.span(tok.startOffset, tokenSpanEnd(tok)), {
              length: tok.image.length,
              limit: MAX_NAME_LENGTH,
            }),
          );
        }
        break;
      case T.LCurly:
      case T.LParen:
        depth++;
        if (depth > MAX_NESTING && parsable) {
          diagnostics.push(diag('nestingTooDeep', src.span(tok.startOffset, tokenSpanEnd(tok)), { limit: MAX_NESTING }));
          parsable = false;
        }
        break;
      case T.RCurly:
      case T.RParen:
        if (depth > 0) depth--;
        break;
      default:
        break;
    }
  }
  return { tokens: result.tokens, diagnostics, parsable };
}
