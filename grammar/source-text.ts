// Turns offsets into spans: one line table per file, built once, binary-searched.
import type { Span } from '../compiler/ir.js';

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
    for (let i = 0; i < text.length; i++) {
      if (text.charCodeAt(i) === 10) starts.push(i + 1);
    }
    this.lineStarts = starts;
  }

  /** 1-based line and column of an offset (clamped into the text). */
  position(offset: number): { line: number; column: number } {
    const at = Math.max(0, Math.min(Number.isFinite(offset) ? offset : this.text.length, this.text.length));
    const starts = this.lineStarts;
    const h = this.hint;
    if (starts[h]! <= at && (h + 1 === starts.length || at < starts[h + 1]!)) return { line: h + 1, column: at - starts[h]! + 1 };
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    this.hint = lo;
    return { line: lo + 1, column: at - this.lineStarts[lo]! + 1 };
  }

  /** Span of [start, end): end is exclusive, for offsets and columns alike. */
  span(startOffset: number, endOffset: number): Span {
    const start = clamp(startOffset, this.text.length);
    const end = Math.max(start, clamp(endOffset, this.text.length));
    const s = this.position(start);
    const e = this.position(end);
    return {
      file: this.file,
      startLine: s.line,
      startColumn: s.column,
      endLine: e.line,
      endColumn: e.column,
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
