// The shape every bench section shares (bench/run.ts runs them in one process,
// against one native baseline measured in the same run).

export type Access = 'read' | 'write';

export interface BenchContext {
  /** Pages each measurement first-touches. */
  pages: number;
  /** Repetitions; each figure is the median. */
  reps: number;
  /** Native anonymous first touch in this run, ns per page (median). */
  baseline(threads: number, access: Access): number;
  /** Package root (bench policies live in bench/policies/). */
  root: string;
  log(line: string): void;
}

export interface BenchRow {
  section: string;
  name: string;
  threads: number;
  access: Access;
  /** Median ns per page, wall time over all threads. */
  nsPerPage: number;
  /**
   * Over native anonymous write first touch with the same threads (the
   * kernel's own zero fill): the median of ratios paired within a repetition
   * where the section measures them so, else nsPerPage over the run's baseline.
   */
  ratio: number;
  /** Where the project sets a target for this figure. */
  target?: { maxRatio: number; met: boolean };
  note?: string;
}

export interface BenchSection {
  name: string;
  /** Why the section cannot run here (not root, no kernel hook...), or null. */
  unavailable(): Promise<string | null>;
  run(ctx: BenchContext): Promise<BenchRow[]>;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}
