// Turns offsets into spans: one line table per file, built once, binary-searched.
import type { Span } from './span.js';

export class SourceText {
  readonly text: string;
  readonly file: string;
  private readonly lineStarts: number[];
  /** Line index of the previous lookup: spans are mostly asked for in text order. */
  private hint = 0;

  constructor(text: string, file: string) {
    this.text = text;
    this.file = file;
    const starts = [0];
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
    this.lineStarts = starts;
  }

  /** 0-based index of the line holding `at` (an offset already clamped into the text). */
  private lineIndex(at: number): number {
    const starts = this.lineStarts;
    const h = this.hint;
    if (starts[h]! <= at && (h + 1 === starts.length || at < starts[h + 1]!)) return h;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    this.hint = lo;
    return lo;
  }

  /** 1-based line and column of an offset (clamped into the text). */
  position(offset: number): { line: number; column: number } {
    const at = clamp(offset, this.text.length);
    const i = this.lineIndex(at);
    return { line: i + 1, column: at - this.lineStarts[i]! + 1 };
  }

  /** Span of [start, end): end is exclusive, for offsets and columns alike. */
  span(startOffset: number, endOffset: number): Span {
    const start = clamp(startOffset, this.text.length);
    const end = Math.max(start, clamp(endOffset, this.text.length));
    const s = this.lineIndex(start);
    const e = this.lineIndex(end);
    return {
      file: this.file,
      startLine: s + 1,
      startColumn: start - this.lineStarts[s]! + 1,
      endLine: e + 1,
      endColumn: end - this.lineStarts[e]! + 1,
      startOffset: start,
      endOffset: end,
    };
  }

  /** The text of one line (1-based), without its line break. */
  line(n: number): string {
    const start = this.lineStarts[n - 1];
    if (start === undefined) return '';
    const next = this.lineStarts[n];
    let end = next === undefined ? this.text.length : next - 1;
    if (end > start && this.text.charCodeAt(end - 1) === 13) end--;
    return this.text.slice(start, end);
  }

  get lineCount(): number {
    return this.lineStarts.length;
  }
}

function clamp(offset: number, length: number): number {
  if (!Number.isFinite(offset)) return length;
  return Math.max(0, Math.min(Math.trunc(offset), length));
}

/** Span covering two spans (from the start of a to the end of b). */
export function joinSpans(a: Span, b: Span): Span {
  return {
    file: a.file,
    startLine: a.startLine,
    startColumn: a.startColumn,
    endLine: b.endLine,
    endColumn: b.endColumn,
    startOffset: a.startOffset,
    endOffset: b.endOffset,
  };
}
