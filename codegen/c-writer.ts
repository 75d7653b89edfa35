// Builds generated C line by line, keeping indentation and the `#line`
// directives that map statements back to the .pfp file (and back to the
// generated file itself where the code is codegen's own).
import { cLine } from './c-escape.js';

export class CWriter {
  private readonly lines: string[] = [];
  private depth = 0;
  /** What the next line is attributed to: a .pfp line, or null for this file. */
  private mapped: { file: string; line: number } | null = null;

  /** @param selfName the generated file's own name, for `#line` resets */
  constructor(private readonly selfName: string) {}

  line(text = ''): void {
    this.lines.push(text === '' ? '' : '\t'.repeat(this.depth) + text);
    if (this.mapped) this.mapped = { ...this.mapped, line: this.mapped.line + 1 };
  }

  /** A line written at column 0 (preprocessor directives, labels). */
  raw(text: string): void {
    this.lines.push(text);
    if (this.mapped) this.mapped = { ...this.mapped, line: this.mapped.line + 1 };
  }

  open(text: string): void {
    this.line(text);
    this.depth++;
  }

  close(text = '}'): void {
    this.depth--;
    this.line(text);
  }

  /** Closes a block and opens the next at the same level: `} else {`. */
  reopen(text: string): void {
    this.depth--;
    this.line(text);
    this.depth++;
  }

  /** Attribute the following lines to `line` of the .pfp `file`. */
  mapTo(file: string, line: number): void {
    if (this.mapped && this.mapped.file === file && this.mapped.line === line) return;
    this.lines.push(cLine(line, file));
    this.mapped = { file, line };
  }

  /** Attribute the following lines to this generated file again. */
  unmap(): void {
    if (!this.mapped) return;
    // The line after the directive is line (count so far + 2) of this file.
    this.lines.push(cLine(this.lines.length + 2, this.selfName));
    this.mapped = null;
  }

  text(): string {
    return this.lines.join('\n') + '\n';
  }
}
