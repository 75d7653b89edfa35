// How far long work has come, on one line of a terminal, redrawn in place.
// Nothing is written when the stream is not a terminal (a pipe, a file, CI's
// log) or when the caller says no (--json): their output stays clean.

/** Work done faster than this shows no progress at all. */
const DELAY_MS = 300;
/** At most this often a redraw. */
const EVERY_MS = 100;

export class Progress {
  private readonly start = Date.now();
  private last = 0;
  private shown = false;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly prefix: string,
    private readonly enabled: boolean = stream.isTTY === true,
  ) {}

  /** `prefix: what done/total unit (P%), S s`, when due. */
  update(what: string, done: number, total: number, unit = 'pages'): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.start < DELAY_MS || now - this.last < EVERY_MS) return;
    this.last = now;
    const pct = total > 0 ? Math.floor((done * 100) / total) : 100;
    const line = `${this.prefix}: ${what} ${done}/${total} ${unit} (${pct}%), ${((now - this.start) / 1000).toFixed(1)} s`;
    const columns = this.stream.columns || 80;
    this.stream.write(`\r\x1b[K${line.slice(0, Math.max(10, columns - 1))}`);
    this.shown = true;
  }

  /** Removes the line, before the report or an error is printed. */
  clear(): void {
    if (this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}
