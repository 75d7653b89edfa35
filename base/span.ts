// Where a thing is in a .pfp file: shared by the grammar, the compiler's IR,
// diagnostics and every tool that points at source text.

/** A place in a .pfp file. Lines and columns start at 1; offsets at 0. Ends are exclusive (end column/offset is just past the last character). */
export interface Span {
  file: string;
  startLine: number;
  startColumn: number;
  endLine: number;
  endColumn: number;
  startOffset: number;
  endOffset: number;
}
