// One canonical layout for .pfp text (`faultc fmt` and the language server's
// formatting). The layout comes from the tokens and the syntax tree, not from
// a list of statement kinds, so a construct added to the grammar formats too:
//   - every element of a list in the tree (policies, sources, regions,
//     handlers, statements, and any list the grammar grows) starts a line;
//   - `{` ends a line and indents by two spaces, `}` stands on its own line,
//     `} else` stays together, and so does `else if`;
//   - inside a line, tokens are separated by one space, except none after `(`,
//     before `)`, `;` or around `.`;
//   - comments stay where they were (at the end of a line or on their own
//     line), and one blank line is kept where the text had one or more
//     between two lines.
// Text with lexical or syntax errors is not formatted (its diagnostics are
// returned instead): recovery may have dropped tokens the layout would lose.
import type { IToken } from 'chevrotain';
import type { Diagnostic } from '../../base/diagnostic.js';
import type { FileAst } from '../../grammar/ast.js';
import { parse } from '../../grammar/index.js';

export type FormatResult = { ok: true; text: string } | { ok: false; diagnostics: Diagnostic[] };

const INDENT = '  ';

/** Start offsets of the nodes that begin a line: every span-carrying element of an array in the tree. */
function lineStarts(ast: FileAst): Set<number> {
  const starts = new Set<number>();
  const visit = (node: unknown, inList: boolean): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item, true);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    const span = o['span'] as { startOffset?: unknown } | undefined;
    if (inList && span && typeof span.startOffset === 'number') starts.add(span.startOffset);
    for (const [key, value] of Object.entries(o)) {
      if (key === 'span' || key.endsWith('Span')) continue;
      if (typeof value === 'object' && value !== null) visit(value, false);
    }
  };
  visit(ast.policies, false);
  return starts;
}

/** The comments in the text between two tokens, each with the line breaks before it, and the line breaks after the last. */
function gapParts(gap: string): { comments: { text: string; newlines: number }[]; trailingNewlines: number } {
  const comments: { text: string; newlines: number }[] = [];
  let newlines = 0;
  let i = 0;
  while (i < gap.length) {
    const ch = gap.charCodeAt(i);
    if (ch === 10) {
      newlines++;
      i++;
    } else if (ch === 35 /* # */) {
      const end = gap.indexOf('\n', i);
      const stop = end < 0 ? gap.length : end;
      comments.push({ text: gap.slice(i, stop).trimEnd(), newlines });
      newlines = 0;
      i = stop;
    } else i++;
  }
  return { comments, trailingNewlines: newlines };
}

function spaceBetween(prev: IToken, tok: IToken): string {
  if (prev.image === '}' && tok.image === 'else') return ' ';
  if (prev.image === '(' || prev.image === '.' || tok.image === ')' || tok.image === '.' || tok.image === ';') return '';
  return ' ';
}

/** The canonical layout of a syntactically valid policy file. */
export function formatText(text: string, file = 'input.pfp'): FormatResult {
  const parsed = parse(text, file);
  const syntax = parsed.diagnostics.filter((d) => d.severity === 'error');
  if (syntax.length > 0) return { ok: false, diagnostics: syntax };
  const starts = lineStarts(parsed.ast);

  const parts: string[] = [];
  let depth = 0;
  let atLineStart = true;
  let empty = true;
  /** The last token written, for `{` and `else` rules. */
  let prev: IToken | undefined;
  let prevEnd = 0;
  const endLine = (blank: boolean): void => {
    if (empty) return;
    if (!atLineStart) parts.push('\n');
    if (blank && parts[parts.length - 2] !== '\n') parts.push('\n');
    atLineStart = true;
  };
  const write = (s: string, level: number): void => {
    if (atLineStart) parts.push(INDENT.repeat(Math.max(0, level)));
    parts.push(s);
    atLineStart = false;
    empty = false;
  };
  const comments = (gap: string, level: number): number => {
    const { comments: list, trailingNewlines } = gapParts(gap);
    for (const c of list) {
      if (c.newlines === 0 && !atLineStart) parts.push(' ');
      else endLine(c.newlines > 1 && prev?.image !== '{');
      write(c.text, level);
      endLine(false);
    }
    return trailingNewlines;
  };

  for (const tok of parsed.tokens) {
    const newlines = comments(text.slice(prevEnd, tok.startOffset), depth);
    const startsLine = prev !== undefined && prev.image !== 'else' && (starts.has(tok.startOffset) || prev.image === '{' || tok.image === '}');
    if (startsLine || (prev === undefined && !empty)) endLine(newlines > 1 && prev?.image !== '{' && tok.image !== '}');
    else if (!atLineStart && prev !== undefined) parts.push(spaceBetween(prev, tok));
    if (tok.image === '}') depth = Math.max(0, depth - 1);
    write(tok.image, depth);
    if (tok.image === '{') depth++;
    prev = tok;
    prevEnd = tok.startOffset + tok.image.length;
  }
  comments(text.slice(prevEnd), depth);
  endLine(false);
  return { ok: true, text: parts.join('') };
}
