// The working set a trace recorded: per region, the pages in the order they
// were first touched (the input a prefetching restore needs).
import type { TraceEvent, TraceRegion } from './trace.js';

export interface WorkingSetRegion {
  index: number;
  name: string;
  start?: string;
  size?: string;
  /** Page indexes (offset / 4096) in first-touch order, each once. */
  pages: number[];
  /** Nanoseconds since the trace began at which each of those pages was first touched. */
  times: number[];
  /** Faults seen, repeats included. */
  faults: number;
}

export interface WorkingSet {
  version: 1;
  pageSize: 4096;
  policy?: string;
  regions: WorkingSetRegion[];
  lostEvents: string;
}

export class WorkingSetRecorder {
  private readonly seen: Set<bigint>[];
  private readonly regions: WorkingSetRegion[];

  constructor(regions: TraceRegion[]) {
    this.seen = regions.map(() => new Set<bigint>());
    this.regions = regions.map((r) => ({
      index: r.index,
      name: r.name,
      ...(r.start !== undefined ? { start: '0x' + r.start.toString(16) } : {}),
      ...(r.size !== undefined ? { size: r.size.toString() } : {}),
      pages: [],
      times: [],
      faults: 0,
    }));
  }

  add(e: TraceEvent): void {
    const r = this.regions[e.region];
    const seen = this.seen[e.region];
    if (!r || !seen) return;
    r.faults++;
    const page = e.offset / 4096n;
    if (seen.has(page)) return;
    seen.add(page);
    r.pages.push(Number(page));
    r.times.push(e.time);
  }

  result(lost: bigint, policy?: string): WorkingSet {
    return { version: 1, pageSize: 4096, ...(policy ? { policy } : {}), regions: this.regions, lostEvents: lost.toString() };
  }
}
