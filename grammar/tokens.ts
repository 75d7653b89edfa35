// The lexer's vocabulary. Keywords are reserved: none of them can name a
// policy, source or region. Labels are what messages print for a token type.
import type { TokenType } from 'chevrotain';
import { createToken, Lexer } from './chevrotain.js';

export const WhiteSpace = createToken({
  name: 'WhiteSpace',
  pattern: /[ \t\r\n\f\v\uFEFF]+/,
  group: Lexer.SKIPPED,
  line_breaks: true,
});
export const Comment = createToken({ name: 'Comment', pattern: /#[^\n]*/, group: Lexer.SKIPPED });

export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/, label: 'a name' });

/** Every binary operator, symbol or word: expressions are parsed flat, then by precedence. */
export const BinaryOp = createToken({ name: 'BinaryOp', pattern: Lexer.NA, label: 'an operator' });

function keyword(word: string, name: string, categories: TokenType[] = []): TokenType {
  return createToken({ name, pattern: new RegExp(word), longer_alt: Identifier, label: '`' + word + '`', categories });
}

export const Policy = keyword('policy', 'Policy');
export const Source = keyword('source', 'Source');
export const File = keyword('file', 'File');
export const Region = keyword('region', 'Region');
export const Size = keyword('size', 'Size');
export const At = keyword('at', 'At');
export const On = keyword('on', 'On');
export const Missing = keyword('missing', 'Missing');
export const Write = keyword('write', 'Write');
export const Read = keyword('read', 'Read');
export const If = keyword('if', 'If');
export const Else = keyword('else', 'Else');
export const Zero = keyword('zero', 'Zero');
export const Fill = keyword('fill', 'Fill');
export const Copy = keyword('copy', 'Copy');
export const Sigbus = keyword('sigbus', 'Sigbus');
export const Defer = keyword('defer', 'Defer');
export const Prefetch = keyword('prefetch', 'Prefetch');
// `pages` before `page`: both are keywords and `page` is a prefix of `pages`.
export const Pages = keyword('pages', 'Pages');
export const Page = keyword('page', 'Page');
export const Ahead = keyword('ahead', 'Ahead');
export const Behind = keyword('behind', 'Behind');
export const Around = keyword('around', 'Around');
export const Block = keyword('block', 'Block');
export const Notify = keyword('notify', 'Notify');
export const Track = keyword('track', 'Track');
export const Dirty = keyword('dirty', 'Dirty');
export const Offset = keyword('offset', 'Offset');
export const Address = keyword('address', 'Address');
export const And = keyword('and', 'And', [BinaryOp]);
export const Or = keyword('or', 'Or', [BinaryOp]);
export const Not = keyword('not', 'Not');
export const SetKw = keyword('set', 'Set');
export const In = keyword('in', 'In', [BinaryOp]);
export const UnitKiB = keyword('KiB', 'UnitKiB');
export const UnitMiB = keyword('MiB', 'UnitMiB');
export const UnitGiB = keyword('GiB', 'UnitGiB');
export const UnitTiB = keyword('TiB', 'UnitTiB');
export const UnitB = keyword('B', 'UnitB');

/** Every reserved word, in the order the lexer tries them. */
export const KEYWORDS: TokenType[] = [
  Policy, Source, File, Region, Size, At, On, Missing, Write, Read, If, Else, Zero, Fill, Copy,
  Sigbus, Defer, Prefetch, Pages, Page, Ahead, Behind, Around, Block, Notify, Track, Dirty, Offset,
  Address, And, Or, Not, SetKw, In, UnitKiB, UnitMiB, UnitGiB, UnitTiB, UnitB,
];

// Hex takes any letters after `0x` (or `0X`) so `0xZZ` is one malformed number, not `0` and a name.
export const Integer = createToken({ name: 'Integer', pattern: /0[xX][0-9A-Za-z_]*|[0-9][0-9_]*/, label: 'an integer' });
export const StringLit = createToken({ name: 'StringLit', pattern: /"(?:[^"\\\n]|\\[^\n])*"/, label: 'a string' });
/** A string cut off by a line break or the end of input: reported, then parsed as a string. */
export const UnterminatedString = createToken({
  name: 'UnterminatedString',
  pattern: /"(?:[^"\\\n]|\\[^\n])*\\?/,
  label: 'a string',
});

export const LCurly = createToken({ name: 'LCurly', pattern: /\{/, label: '`{`' });
export const RCurly = createToken({ name: 'RCurly', pattern: /\}/, label: '`}`' });
export const LParen = createToken({ name: 'LParen', pattern: /\(/, label: '`(`' });
export const RParen = createToken({ name: 'RParen', pattern: /\)/, label: '`)`' });
export const Semicolon = createToken({ name: 'Semicolon', pattern: /;/, label: '`;`' });
export const Dot = createToken({ name: 'Dot', pattern: /\./, label: '`.`' });


export const Shl = createToken({ name: 'Shl', pattern: /<</, categories: [BinaryOp], label: '`<<`' });
export const Shr = createToken({ name: 'Shr', pattern: />>/, categories: [BinaryOp], label: '`>>`' });
export const Le = createToken({ name: 'Le', pattern: /<=/, categories: [BinaryOp], label: '`<=`' });
export const Ge = createToken({ name: 'Ge', pattern: />=/, categories: [BinaryOp], label: '`>=`' });
export const EqEq = createToken({ name: 'EqEq', pattern: /==/, categories: [BinaryOp], label: '`==`' });
export const NotEq = createToken({ name: 'NotEq', pattern: /!=/, categories: [BinaryOp], label: '`!=`' });
export const Lt = createToken({ name: 'Lt', pattern: /</, categories: [BinaryOp], label: '`<`' });
export const Gt = createToken({ name: 'Gt', pattern: />/, categories: [BinaryOp], label: '`>`' });
export const Equals = createToken({ name: 'Equals', pattern: /=/, label: '`=`' });
export const Plus = createToken({ name: 'Plus', pattern: /\+/, categories: [BinaryOp], label: '`+`' });
export const Minus = createToken({ name: 'Minus', pattern: /-/, categories: [BinaryOp], label: '`-`' });
export const Star = createToken({ name: 'Star', pattern: /\*/, categories: [BinaryOp], label: '`*`' });
export const Slash = createToken({ name: 'Slash', pattern: /\//, categories: [BinaryOp], label: '`/`' });
export const Percent = createToken({ name: 'Percent', pattern: /%/, categories: [BinaryOp], label: '`%`' });
export const Amp = createToken({ name: 'Amp', pattern: /&/, categories: [BinaryOp], label: '`&`' });
export const Pipe = createToken({ name: 'Pipe', pattern: /\|/, categories: [BinaryOp], label: '`|`' });

/** Token types in lexing order (longer operators before their prefixes). */
export const ALL_TOKENS: TokenType[] = [
  WhiteSpace, Comment,
  ...KEYWORDS,
  Identifier, Integer, StringLit, UnterminatedString,
  LCurly, RCurly, LParen, RParen, Semicolon, Dot,
  Shl, Shr, Le, Ge, EqEq, NotEq, Lt, Gt, Equals, Plus, Minus, Star, Slash, Percent, Amp, Pipe,
  BinaryOp,
];

/**
 * chevrotain's lexer over these tokens; `validate` runs its token checks. The
 * compiler reads text with grammar/scan.ts, which must give what this gives
 * (test/grammar/scan.test.ts).
 */
export function makeLexer(validate: boolean): InstanceType<typeof Lexer> {
  return new Lexer(ALL_TOKENS, { positionTracking: 'onlyOffset', ensureOptimizations: validate, skipValidations: !validate });
}
