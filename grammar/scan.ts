// The lexer, written out by hand over the vocabulary of grammar/tokens.ts.
// chevrotain's table-driven lexer tries each token's regular expression in
// turn and cost a quarter of a large `faultc check` (building it included);
// this one reads each token with one switch on its first character. It gives
// the same tokens and the same errors as chevrotain's lexer built from
// tokens.ts (test/grammar/scan.test.ts holds them side by side on the fuzz corpus):
//   - a word is a keyword when it is one exactly, else a name (chevrotain's
//     `longer_alt: Identifier`);
//   - characters that start no token are one error per run, the run ending
//     where a token (whitespace included) could start.
import type { IToken, TokenType } from 'chevrotain';
import * as T from './tokens.js';

export interface ScanError {
  offset: number;
  length: number;
}

export interface ScanResult {
  tokens: IToken[];
  errors: ScanError[];
}

const KEYWORD_BY_WORD = new Map<string, TokenType>(T.KEYWORDS.map((k) => [String((k.PATTERN as RegExp).source), k]));

/**
 * The one text of each keyword and symbol, by token type index: their tokens
 * share it instead of each holding a copy (a large policy is mostly these,
 * and every token lives until the parse ends).
 */
const FIXED_IMAGE: (string | undefined)[] = [];
for (const [word, k] of KEYWORD_BY_WORD) FIXED_IMAGE[k.tokenTypeIdx!] = word;
for (const [t, text] of [
  [T.LCurly, '{'], [T.RCurly, '}'], [T.LParen, '('], [T.RParen, ')'], [T.Semicolon, ';'], [T.Dot, '.'],
  [T.Shl, '<<'], [T.Shr, '>>'], [T.Le, '<='], [T.Ge, '>='], [T.EqEq, '=='], [T.NotEq, '!='], [T.Lt, '<'], [T.Gt, '>'],
  [T.Equals, '='], [T.Plus, '+'], [T.Minus, '-'], [T.Star, '*'], [T.Slash, '/'], [T.Percent, '%'], [T.Amp, '&'], [T.Pipe, '|'],
] as const) {
  FIXED_IMAGE[t.tokenTypeIdx!] = text;
}

const NONE = -1;

/** Type of the token tokenAt() last found; null for whitespace and comments. */
let foundType: TokenType | null = null;

function isSpace(c: number): boolean {
  // [ \t\r\n\f\v\uFEFF]
  return c === 32 || (c >= 9 && c <= 13) || c === 0xfeff;
}

function isWordStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
}

function isWordPart(c: number): boolean {
  return isWordStart(c) || (c >= 48 && c <= 57);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Length of the token at `i` (its type in foundType, null for skipped text), or NONE. */
function tokenAt(text: string, i: number): number {
  const n = text.length;
  const c = text.charCodeAt(i);
  foundType = null;
  if (isSpace(c)) {
    let j = i + 1;
    while (j < n && isSpace(text.charCodeAt(j))) j++;
    return j - i;
  }
  if (isWordStart(c)) {
    let j = i + 1;
    while (j < n && isWordPart(text.charCodeAt(j))) j++;
    foundType = KEYWORD_BY_WORD.get(text.slice(i, j)) ?? T.Identifier;
    return j - i;
  }
  if (isDigit(c)) {
    let j = i + 1;
    const next = text.charCodeAt(j);
    if (c === 48 && (next === 120 || next === 88)) {
      // 0x: any letters, digits and underscores (a malformed one is one token).
      j++;
      while (j < n && isWordPart(text.charCodeAt(j))) j++;
    } else {
      while (j < n && (isDigit(text.charCodeAt(j)) || text.charCodeAt(j) === 95)) j++;
    }
    foundType = T.Integer;
    return j - i;
  }
  const next = i + 1 < n ? text.charCodeAt(i + 1) : NaN;
  switch (c) {
    case 35: {
      // # comment, to the end of the line
      const end = text.indexOf('\n', i);
      return (end < 0 ? n : end) - i;
    }
    case 34:
      return stringAt(text, i);
    case 123:
      return one(T.LCurly);
    case 125:
      return one(T.RCurly);
    case 40:
      return one(T.LParen);
    case 41:
      return one(T.RParen);
    case 59:
      return one(T.Semicolon);
    case 46:
      return one(T.Dot);
    case 60: // <
      if (next === 60) return two(T.Shl);
      if (next === 61) return two(T.Le);
      return one(T.Lt);
    case 62: // >
      if (next === 62) return two(T.Shr);
      if (next === 61) return two(T.Ge);
      return one(T.Gt);
    case 61: // =
      return next === 61 ? two(T.EqEq) : one(T.Equals);
    case 33: // !
      return next === 61 ? two(T.NotEq) : NONE;
    case 43:
      return one(T.Plus);
    case 45:
      return one(T.Minus);
    case 42:
      return one(T.Star);
    case 47:
      return one(T.Slash);
    case 37:
      return one(T.Percent);
    case 38:
      return one(T.Amp);
    case 124:
      return one(T.Pipe);
    default:
      return NONE;
  }
}

function one(t: TokenType): number {
  foundType = t;
  return 1;
}

function two(t: TokenType): number {
  foundType = t;
  return 2;
}

/** A string: closed by `"`, or cut off by a line break or the end (a last backslash included). */
function stringAt(text: string, i: number): number {
  const n = text.length;
  let j = i + 1;
  for (;;) {
    if (j >= n) break;
    const c = text.charCodeAt(j);
    if (c === 34) {
      foundType = T.StringLit;
      return j + 1 - i;
    }
    if (c === 10) break;
    if (c === 92) {
      if (j + 1 < n && text.charCodeAt(j + 1) !== 10) {
        j += 2;
        continue;
      }
      j++;
      break;
    }
    j++;
  }
  foundType = T.UnterminatedString;
  return j - i;
}

export function scan(text: string): ScanResult {
  const tokens: IToken[] = [];
  const errors: ScanError[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const len = tokenAt(text, i);
    if (len !== NONE) {
      const type = foundType;
      if (type !== null) {
        const idx = type.tokenTypeIdx!;
        tokens.push({ image: FIXED_IMAGE[idx] ?? text.slice(i, i + len), startOffset: i, tokenTypeIdx: idx, tokenType: type });
      }
      i += len;
      continue;
    }
    // Drop characters up to where a token could start again.
    const start = i;
    i++;
    while (i < n && tokenAt(text, i) === NONE) i++;
    errors.push({ offset: start, length: i - start });
  }
  return { tokens, errors };
}
