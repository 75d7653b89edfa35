// The engine interface: what runtime/api/policy.ts asks of the code that
// resolves a policy's faults. Engines: `uffd` (engines/uffd.ts, any Linux with
// userfaultfd) and `kernel` (engines/kernel.ts, the project's patched kernel).
// Choosing one is engines/select.ts.
import type { LoadedManifest } from '../../codegen/manifest.js';
import type { RawFaultEvent } from '../api/events.js';
import type { DeferHandler } from '../api/defer.js';
import type { HttpSourceStats } from '../sources/http.js';

export type EngineKind = 'kernel' | 'uffd';
export type EngineChoice = EngineKind | 'auto';

/** Region counters, the same for every engine. */
/** What region.touch() does: native threads, reads or writes, and whether to time each touch. */
export interface TouchOptions {
  threads?: number;
  write?: boolean;
  value?: number;
  /** Time each page's touch (bench): the result's `latencies`, ns, in the order of `pages`. */
  latencies?: boolean;
}

export interface TouchResult {
  /** From the start of the first thread to the end of the last. */
  ns: number;
  /** Sum of the bytes read. */
  sum: number;
  latencies?: Float64Array;
}

export interface RegionStats {
  faults: number;
  resolved: { zero: number; fill: number; copy: number; prefetch: number };
  sigbus: number;
  deferred: number;
  errors: number;
  /** First writes to present pages handled by `on write` rules. */
  writeFaults: number;
  /** Pages another thread (or a prefetch) resolved first: the race was lost harmlessly. */
  raced: number;
}

/** What an engine needs to map one region of the policy. */
export interface RegionSpec {
  id: string;
  /** Index of the region in the policy (the decision function's `region`). */
  index: number;
  size: bigint;
  /** Fixed address, when the policy gives one. */
  at?: bigint;
  /** The region has `on write` rules: first writes must be seen. */
  writeTracking: boolean;
}

/** One mapped region, as an engine hands it out. */
export interface EngineRegion {
  readonly address: bigint;
  readonly size: number;
  /** The whole region's memory; null when it is larger than an ArrayBuffer over native memory may be (4 GiB). */
  readonly buffer: ArrayBuffer | null;
  /** An ArrayBuffer over [offset, offset + length) of the region (1 byte to 4 GiB). */
  view(offset: number, length: number): ArrayBuffer;
  stats(): RegionStats;
  /** Page indexes written since the last reset (`track dirty`), ascending. */
  dirtyPages(): number[];
  resetDirty(): void;
  /**
   * First-touches pages from native threads (tests, `faultc run`, bench),
   * never from the JavaScript thread. Resolves with the time the touching took.
   */
  touch(pages: Uint32Array, opts?: TouchOptions): Promise<TouchResult>;
  /** A user-space handler for the region's `defer` rules (engines that take one). */
  onDefer?(handler: DeferHandler | null): void;
  /**
   * Run-time sets (`set <name>`, by index): puts pages [firstPage,
   * firstPage + pages) in (add) or out of set `set`; the next fault of such
   * a page sees it. Engines that fill sets only.
   */
  setChange?(set: number, firstPage: number, pages: number, add: boolean): void;
  setHas?(set: number, page: number): boolean;
}

export interface EngineOpenContext {
  manifest: LoadedManifest;
  /** Absolute path of the policy's host decision library (`<policy>.decide.so`). */
  decideLibrary: string;
  /** Absolute path of every source, by source index (overrides applied). */
  sourcePaths: string[];
  /** Receives notify and error events in batches; `region` is the policy's region index. */
  onEvents: (events: RawFaultEvent[]) => void;
  options: EngineOptions;
}

/** Engine-specific knobs; each engine ignores what it does not know. */
export interface EngineOptions {
  /** uffd, and the kernel engine's user-space handler: handler threads (default: one per online CPU, at least 4 with an http source). */
  handlerThreads?: number;
  /** uffd: ask for UFFD_USER_MODE_ONLY (works unprivileged; system calls touching unresolved pages get EFAULT). */
  userModeOnly?: boolean;
  /** uffd: deliver SIGBUS with tgkill even where UFFDIO_POISON exists. */
  forceSigbusFallback?: boolean;
  /** uffd: handler threads move to the CPU of the threads whose faults they resolve (default true). */
  followFaultingThreads?: boolean;
  /**
   * uffd: one handler thread pinned to each CPU, every one woken by a fault,
   * each resolving the faults of the threads on its CPU, instead of handlers
   * shared by all CPUs and woken one at a time (default true: on an idle
   * machine it costs a third less with two faulting threads and the same
   * with one, docs/performance.md; false gives the shared handlers). Needs
   * followFaultingThreads and no handlerThreads count.
   */
  perCpuHandlers?: boolean;
  /**
   * uffd: while faults stream, hold a CPU wake-up latency request of 0 µs
   * (/dev/cpu_dma_latency, root only) so that idle CPUs poll rather than halt
   * (default true; dropped 5 ms after the last fault).
   */
  cpuLatencyRequest?: boolean;
  /**
   * kernel, and uffd for a source on tmpfs: map a region whose every page is
   * its source's page at the same offset from the source itself, so a read
   * maps the page-cache page and a write copies it (default true). Such pages
   * follow later changes of the file until written; false gives every page
   * its own copy at fault time.
   */
  zeroCopy?: boolean;
  /** How long a deferred fault waits for its region's onDefer handler before SIGBUS (default 2000 ms). */
  deferDeadlineMs?: number;
  /** http sources (either engine): how long one read may take, retries included, before SIGBUS (default 5000 ms). */
  httpDeadlineMs?: number;
}

export interface EngineInstance {
  readonly kind: EngineKind;
  mapRegion(spec: RegionSpec): EngineRegion;
  /** Stops resolving after every pending fault is resolved, unmaps; returns the last events. */
  close(): Promise<RawFaultEvent[]>;
  /** Events dropped because the engine's queue was full. */
  lostEvents?(): number;
  /** An http source's request counters, or null for a file source. */
  sourceStats?(index: number): HttpSourceStats | null;
  /**
   * Attaches a region's rules to [address, address + size) of another
   * process (engines that can resolve faults of another process only).
   */
  attachProcess?(index: number, size: bigint, pid: number, address: bigint): void;
}

export interface Engine {
  readonly kind: EngineKind;
  open(ctx: EngineOpenContext): Promise<EngineInstance>;
}
