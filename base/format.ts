// Diagnostics for people: `file:line:col: severity CODE: message`, the source
// line, a caret underline, then the hint. Colour only when asked (callers use
// useColor(), which honours NO_COLOR and non-TTY output).
import path from 'node:path';
import { SourceText } from './source-text.js';
import { isFileLevel } from './codes.js';
import type { Diagnostic } from './diagnostic.js';

export interface FormatOptions {
  color: boolean;
  /** Folder file names are shown relative to (default: the working directory). */
  cwd?: string;
}

const ANSI = {
  reset: '\x1b[0m',
  bold: '\x1b[1m',
  dim: '\x1b[2m',
  red: '\x1b[31m',
  yellow: '\x1b[33m',
  cyan: '\x1b[36m',
};

/** True when output to `stream` may carry colour: a TTY and NO_COLOR unset or empty. */
export function useColor(stream: { isTTY?: boolean } = process.stderr): boolean {
  const noColor = process.env['NO_COLOR'];
  if (noColor !== undefined && noColor !== '') return false;
  return stream.isTTY === true;
}

export function displayPath(file: string, cwd: string = process.cwd()): string {
  if (!path.isAbsolute(file)) return file;
  const rel = path.relative(cwd, file);
  return rel === '' || rel.startsWith('..') || path.isAbsolute(rel) ? file : rel;
}

/** Control characters would move the cursor or recolour the terminal: show them as `?`, one per unit, so columns stay. */
function printable(line: string): string {
  return line.replace(/\t/g, ' ').replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
}

export function formatDiagnostic(d: Diagnostic, sourceText: string | SourceText, opts: FormatOptions): string {
  const src = typeof sourceText === 'string' ? new SourceText(sourceText, d.span.file) : sourceText;
  const paint = (code: string, s: string): string => (opts.color ? code + s + ANSI.reset : s);
  const sevColor = d.severity === 'error' ? ANSI.red : ANSI.yellow;
  // A file that cannot be read, or a whole-file matter, has no line to point at.
  const whole = isFileLevel(d);
  const where = whole ? displayPath(d.span.file, opts.cwd) : `${displayPath(d.span.file, opts.cwd)}:${d.span.startLine}:${d.span.startColumn}`;
  const lines = [`${paint(ANSI.bold, where)}: ${paint(ANSI.bold + sevColor, d.severity)} ${paint(ANSI.dim, d.code)}: ${d.message}`];
  if (!whole) lines.push(...excerpt(src, d.span, paint, sevColor));
  for (const r of d.related ?? []) {
    const at = `${displayPath(r.span.file, opts.cwd)}:${r.span.startLine}:${r.span.startColumn}`;
    lines.push(`${paint(ANSI.bold, at)}: ${paint(ANSI.cyan, 'note')}: ${r.message}`);
    if (r.span.file === d.span.file) lines.push(...excerpt(src, r.span, paint, ANSI.cyan));
  }
  if (d.hint) lines.push(`${paint(ANSI.cyan, 'hint')}: ${d.hint}`);
  return lines.join('\n');
}

/** The source line of `span` with a caret underline, or nothing when the text is not at hand. */
function excerpt(src: SourceText, span: Diagnostic['span'], paint: (code: string, s: string) => string, color: string): string[] {
  const lineNo = span.startLine;
  if (lineNo > src.lineCount || src.text.length === 0) return [];
  const text = printable(src.line(lineNo));
  const gutter = String(lineNo);
  const pad = ' '.repeat(gutter.length);
  const startCol = Math.min(span.startColumn, text.length + 1);
  const endCol = span.endLine === lineNo ? Math.max(span.endColumn, startCol + 1) : text.length + 1;
  const width = Math.max(1, Math.min(endCol, text.length + 1) - startCol);
  const marker = '^' + '~'.repeat(width - 1) + (span.endLine > lineNo ? ' ...' : '');
  return [`${paint(ANSI.dim, gutter + ' |')} ${text}`, `${paint(ANSI.dim, pad + ' |')} ${' '.repeat(startCol - 1)}${paint(color, marker)}`];
}

/** All diagnostics plus a count line, e.g. "2 errors, 1 warning". */
export function formatDiagnostics(list: Diagnostic[], sourceText: string, opts: FormatOptions): string {
  if (list.length === 0) return '';
  const file = list[0]!.span.file;
  const src = new SourceText(sourceText, file);
  const blocks = list.map((d) => formatDiagnostic(d, d.span.file === file ? src : new SourceText('', d.span.file), opts));
  const errors = list.filter((d) => d.severity === 'error').length;
  const warnings = list.length - errors;
  const count = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  const summary = [errors ? count(errors, 'error') : '', warnings ? count(warnings, 'warning') : ''].filter(Boolean).join(', ');
  return blocks.join('\n\n') + '\n\n' + summary;
}
