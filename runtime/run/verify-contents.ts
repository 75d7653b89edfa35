// What a region's pages must hold after their first touch, computed from the
// policy IR by the reference evaluator (compiler/evaluate.ts) and the source
// files' bytes: an opinion independent of the generated C that resolved them.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { evaluate, type Evaluation } from '../../compiler/evaluate.js';
import type { PolicyIR } from '../../compiler/ir.js';

export const PAGE = 4096;

export type PageExpectation =
  | { kind: 'bytes'; bytes: Uint8Array; evaluation: Evaluation }
  /** The first touch gets SIGBUS: never touch it from this process. */
  | { kind: 'sigbus'; reason: string; evaluation: Evaluation };

/**
 * Open source files, read at will; sizes as the engine saw them at load time.
 * A source given in `whole` (an http source, downloaded in one GET) is read
 * from those bytes instead.
 */
export class SourceReader {
  private readonly fds: (number | undefined)[];
  readonly sizes: bigint[];

  constructor(paths: string[], private readonly whole: (Uint8Array | undefined)[] = []) {
    this.fds = paths.map((p, i) => (whole[i] ? undefined : openSync(p, 'r')));
    this.sizes = this.fds.map((fd, i) => BigInt(fd === undefined ? (whole[i]?.length ?? 0) : fstatSync(fd).size));
  }

  /** len bytes at off; bytes past the end of the file are zero. */
  read(source: number, off: bigint, len: number): Uint8Array {
    const out = new Uint8Array(len);
    const bytes = this.whole[source];
    if (bytes) {
      if (off < BigInt(bytes.length)) out.set(bytes.subarray(Number(off), Math.min(bytes.length, Number(off) + len)));
      return out;
    }
    const fd = this.fds[source];
    if (fd === undefined) throw new RangeError(`no source ${source}`);
    let done = 0;
    while (done < len) {
      const n = readSync(fd, out, done, len - done, off + BigInt(done));
      if (n === 0) break;
      done += n;
    }
    return out;
  }

  close(): void {
    for (const fd of this.fds) if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The expected contents of page `page` of region `region` after a first
 * touch (a read, or a write when `write`). `defer` resolves as zeros on the
 * uffd engine, which handles its own deferred faults.
 */
export function expectPage(
  policy: PolicyIR,
  region: number,
  page: number,
  regionAddress: bigint,
  write: boolean,
  sources: SourceReader,
): PageExpectation {
  const offset = BigInt(page) * BigInt(PAGE);
  const evaluation = evaluate(policy, {
    region,
    handler: 'missing',
    offset,
    address: regionAddress + offset,
    write,
    sourceSizes: sources.sizes,
  });
  switch (evaluation.action) {
    case 'sigbus':
      return { kind: 'sigbus', reason: evaluation.error ? `run-time error: ${evaluation.error}` : 'the rule is sigbus', evaluation };
    case 'fill':
      return { kind: 'bytes', bytes: new Uint8Array(PAGE).fill(evaluation.fillByte ?? 0), evaluation };
    case 'copy': {
      const src = evaluation.source ?? 0;
      const at = evaluation.sourceOffset ?? 0n;
      const size = sources.sizes[src] ?? 0n;
      if (at >= size) return { kind: 'sigbus', reason: 'the page lies wholly past the end of its source', evaluation };
      return { kind: 'bytes', bytes: sources.read(src, at, PAGE), evaluation };
    }
    default:
      return { kind: 'bytes', bytes: new Uint8Array(PAGE), evaluation };
  }
}

/**
 * What the region's `on write` rules do with the first write to page `page`
 * once it is present: `sigbus` refuses it, `trackDirty` marks the page dirty.
 */
export function expectWrite(policy: PolicyIR, region: number, page: number, regionAddress: bigint, sources: SourceReader): Evaluation {
  const offset = BigInt(page) * BigInt(PAGE);
  return evaluate(policy, { region, handler: 'write', offset, address: regionAddress + offset, write: true, sourceSizes: sources.sizes });
}

export interface PageMismatch {
  page: number;
  /** First differing byte within the page. */
  at: number;
  expected: number;
  actual: number;
}

/** Compares one page of memory with its expectation; null when equal. */
export function comparePage(memory: Uint8Array, page: number, expected: Uint8Array): PageMismatch | null {
  const base = page * PAGE;
  const view = Buffer.from(memory.buffer, memory.byteOffset + base, PAGE);
  if (view.equals(expected)) return null;
  for (let i = 0; i < PAGE; i++) {
    const actual = memory[base + i] ?? 0;
    const want = expected[i] ?? 0;
    if (actual !== want) return { page, at: i, expected: want, actual };
  }
  return null;
}
