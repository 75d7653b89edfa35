// parse(text, file): lexing, then parsing with recovery; the parser builds the
// AST as it goes. Every problem is a diagnostic with a code; nothing here
// throws on any input.
import type { IRecognitionException, IToken } from 'chevrotain';
import type { Diagnostic } from '../base/diagnostic.js';
import { CODES, diag, withRelated } from '../base/codes.js';
import { suggesting } from '../base/suggest.js';
import { MAX_INPUT_BYTES } from '../base/limits.js';
import type { FileAst } from './ast.js';
import { lex, tokenSpanEnd } from './lex.js';
import { getParser, isEof, type ParseErrorInfo } from './parser.js';
import { SourceText } from '../base/source-text.js';
import { AstBuilder } from './to-ast.js';
import { KEYWORDS } from './tokens.js';

export type { FileAst } from './ast.js';
export { SourceText } from '../base/source-text.js';

function emptyAst(src: SourceText): FileAst {
  return { file: src.file, policies: [], span: src.span(0, src.text.length) };
}

function describe(tok: IToken): string {
  if (isEof(tok)) return 'end of file';
  if (KEYWORDS.includes(tok.tokenType)) return '`' + tok.image + '`';
  switch (tok.tokenType.name) {
    case 'Identifier':
      return 'name `' + tok.image + '`';
    case 'Integer':
      return 'integer `' + tok.image + '`';
    case 'StringLit':
      return 'a string';
    default:
      return '`' + tok.image + '`';
  }
}

function listExpected(expected: string[]): string {
  const uniq = [...new Set(expected)];
  if (uniq.length === 0) return 'something else';
  if (uniq.length <= 4) return uniq.length === 1 ? uniq[0]! : uniq.slice(0, -1).join(', ') + ' or ' + uniq[uniq.length - 1];
  return uniq.slice(0, 4).join(', ') + ', ...';
}

function parseInfo(e: IRecognitionException): ParseErrorInfo {
  try {
    return JSON.parse(e.message) as ParseErrorInfo;
  } catch {
    return { kind: 'mismatch', rule: '', expected: [], expectedIdentifier: false };
  }
}

const STATEMENT_WORDS = ['zero', 'fill', 'copy', 'sigbus', 'defer', 'prefetch', 'notify', 'track', 'if'];

/** Hints for an expression that starts wrong, by the token found there. */
function expressionHint(image: string): string | undefined {
  switch (image) {
    case '-':
      return 'values are unsigned: there is no unary minus (`0 - 1` is the all-ones value)';
    case '&':
    case '|':
      return 'logic is written `and`, `or`, `not`';
    case '=':
      return 'compare with `==`';
    default:
      return undefined;
  }
}

/** Maps one chevrotain recognition error to a diagnostic with our code. */
function translate(e: IRecognitionException, src: SourceText): Diagnostic {
  const tok = e.token;
  const eof = isEof(tok) || !Number.isFinite(tok.startOffset);
  const span = eof ? src.span(src.text.length, src.text.length) : src.span(tok.startOffset, tokenSpanEnd(tok));
  const x = parseInfo(e);
  const found = eof ? 'end of file' : describe(tok);
  const expected = listExpected(x.expected);
  if (eof) return diag('unexpectedEnd', span, { expected });
  if (x.expectedIdentifier && KEYWORDS.includes(tok.tokenType) && (x.kind === 'mismatch' || x.rule !== 'primary')) {
    return diag('keywordAsName', span, { found: '`' + tok.image + '`' }, `choose another name, e.g. \`${tok.image}_1\``);
  }
  if (x.kind === 'notAllInput' || x.rule === 'file') return suggesting(diag('expectedPolicy', span, { found }), tok.image, ['policy']);
  if (x.kind === 'mismatch' && x.expected[0] === '`}`') {
    // The closing brace is what the parser expects when an item does not start right.
    if (x.rule === 'policy') return suggesting(diag('expectedDeclaration', span, { found }), tok.image, ['source', 'region']);
    if (x.rule === 'block') return suggesting(diag('expectedStatement', span, { found }), tok.image, STATEMENT_WORDS);
    if (x.rule === 'region') return diag('unexpectedToken', span, { expected: '`on missing`, `on write` or `}`', found });
  }
  // Only the choice between statements means "not a statement"; later parts of one (`copy` without a source) are plain.
  if (x.rule === 'statement' && x.kind === 'noViableAlt' && x.expected.includes('`zero`')) {
    return suggesting(diag('expectedStatement', span, { found }), tok.image, STATEMENT_WORDS);
  }
  if (x.rule === 'primary' || (x.kind === 'mismatch' && x.rule === 'expression')) {
    return diag('expectedExpression', span, { found }, expressionHint(tok.image));
  }
  if (tok.image === '=') return diag('unexpectedToken', span, { expected, found }, 'compare with `==`');
  if (tok.image === '&' || tok.image === '|') return diag('unexpectedToken', span, { expected, found }, 'logic is written `and`, `or`, `not`');
  return diag('unexpectedToken', span, { expected, found });
}

/** The innermost `{` still open before `offset`, if any. */
function openBrace(tokens: IToken[], offset: number): IToken | undefined {
  const open: IToken[] = [];
  for (const tok of tokens) {
    if (tok.startOffset >= offset) break;
    if (tok.image === '{') open.push(tok);
    else if (tok.image === '}') open.pop();
  }
  return open[open.length - 1];
}

export function parse(text: string, file: string): { ast: FileAst; diagnostics: Diagnostic[]; tokens: IToken[] } {
  const src = new SourceText(text, file);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_INPUT_BYTES) {
    return { ast: emptyAst(src), diagnostics: [diag('inputTooLarge', src.span(0, 0), { size: bytes, limit: MAX_INPUT_BYTES })], tokens: [] };
  }
  const lexed = lex(src);
  if (!lexed.parsable) return { ast: emptyAst(src), diagnostics: lexed.diagnostics, tokens: lexed.tokens };
  const parser = getParser();
  const builder = new AstBuilder(src);
  parser.b = builder;
  parser.input = lexed.tokens;
  const ast = parser.file() ?? emptyAst(src);
  const diagnostics = [...lexed.diagnostics];
  const seen = new Set<string>();
  let syntaxErrors = 0;
  for (const e of parser.errors) {
    const d = translate(e, src);
    // Recovery can fail at one token several times over: report it once.
    const key = d.span.startOffset + ':' + d.code;
    if (seen.has(key)) continue;
    seen.add(key);
    // "Expected `policy`" where braces are still open, after an error: recovery
    // lost its place at that error and took a `}` inside a block for the end
    // of the policy. The earlier error is the real one; this would only repeat it.
    if (d.code === CODES.expectedPolicy.code && syntaxErrors > 0 && openBrace(lexed.tokens, d.span.startOffset)) continue;
    syntaxErrors++;
    // The end of the file inside a block: the place to fix is the `{` left open, not the end.
    const brace = d.code === CODES.unexpectedEnd.code ? openBrace(lexed.tokens, d.span.startOffset) : undefined;
    if (brace) {
      const end = d.span;
      const open = diag('unclosedBrace', src.span(brace.startOffset, brace.startOffset + 1), { endLine: end.startLine });
      diagnostics.push(withRelated(open, end, 'the file ends here'));
      continue;
    }
    diagnostics.push(d);
  }
  diagnostics.push(...builder.diagnostics);
  diagnostics.sort((a, b) => a.span.startOffset - b.span.startOffset);
  return { ast, diagnostics, tokens: lexed.tokens };
}
