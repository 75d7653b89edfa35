// The kernel engine: the policy's <policy>.fault.bpf.o runs inside the
// faulting thread as a per-VMA BPF_PROG_TYPE_PAGE_FAULT program on the faultc
// kernel (kernel/patches/). native/src/kernel_engine.c loads and attaches it;
// this file adapts it to engines/types.ts.
//
// What the hook hands to user space goes to a userfaultfd engine watching the
// region (native/src/kernel_engine.c), which runs the policy's host decision
// library exactly as the uffd engine does:
// - `defer`: the hook hands the page to the region's userfaultfd, whose
//   handler gives it zeros, as the uffd engine does with its own defers;
// - `on write` rules (track dirty, write notify, write sigbus): the hook
//   installs the region's pages write-protected, and the first write to each
//   comes to the handler (dirty bitmap, notify, SIGBUS);
// - a copy from an http source: the program turns it into a defer, and the
//   handler fetches the page and its prefetch run, as the uffd engine does
//   (docs/http-sources.md, "Engines").
import { artifactPath, type LoadedManifest } from '../../codegen/manifest.js';
import { hugeBlocks, rulesDefer, tracksWrites, zeroCopySource } from '../../compiler/region-traits.js';
import { HTTP_MIN_HANDLER_THREADS, isHttpLocation, toHttpSourceStats, type HttpSourceStats, type NativeHttpStats } from '../sources/http.js';
import { DEFER_DEADLINE_MS, DeferDispatch, deferPump, type DeferHandler, type DeferNative } from '../api/defer.js';
import { availableParallelism } from 'node:os';
import type { FaultCounter } from '../../abi/abi.js';
import { decodeFaultEvents, eventPump, type RawFaultEvent } from '../api/events.js';
import { codeOf, RuntimeError } from '../../base/errors.js';
import type { TouchOptions, TouchResult, Engine, EngineInstance, EngineOpenContext, EngineOptions, EngineRegion, RegionSpec, RegionStats } from './types.js';
import { loadNative } from './native.js';
import { requireUserfaultfd } from '../proc/uffd-access.js';

/** The addon's KernelEngine (native/src/kernel_binding.cc). */
export interface NativeKernelEngine extends DeferNative {
  /**
   * mapSource: map the region from that source (zero-copy), or -1 for anonymous memory;
   * huge: its rules prefetch 2 MiB blocks (2 MiB-aligned, MADV_HUGEPAGE).
   */
  addRegion(region: number, size: bigint, at: bigint, defer: boolean, writes: boolean, mapSource: number, huge: boolean): { slot: number; address: bigint; buffer: ArrayBuffer | null };
  view(slot: number, offset: number, length: number): ArrayBuffer;
  /** The program's counters of a region (struct faultc_counts), summed over CPUs. */
  counts(region: number): FaultCounts;
  writes(slot: number): WriteCounts;
  /**
   * Attaches the program as `region` to memory another process mapped
   * (private anonymous, [address, address + size)): its missing pages there
   * run the program. Needs CAP_BPF and the right to ptrace `pid`
   * (FAULTC_KERNEL_EPERM); FAULTC_KERNEL_ESRCH when it is gone.
   */
  attachProcess(region: number, pid: number, address: bigint, size: bigint): void;
  /** Run-time sets: the program's map of set `set` (and the `on write` handlers' bitmaps). */
  setChange(region: number, set: number, firstPage: number, pages: number, add: boolean): void;
  setHas(region: number, set: number, page: number): boolean;
  dirtyPages(slot: number): number[];
  resetDirty(slot: number): void;
  drainEvents(): Buffer;
  lostEvents(): number;
  touch(slot: number, pages: Uint32Array, threads: number, write: boolean, value: number, latencies: boolean): Promise<TouchResult>;
  httpStats(source: number): NativeHttpStats | null;
  close(): Buffer;
}

/** struct faultc_counts, field by field. */
export type FaultCounts = Record<FaultCounter, number>;

/** What the user-space handler of a region counted: first writes, deferred faults, copies from http sources. */
export interface WriteCounts {
  writeFaults: number;
  sigbus: number;
  errors: number;
  /** Faults copied from an http source, and their prefetched neighbours. */
  copy?: number;
  prefetch?: number;
}

export interface NativeKernelOptions {
  object: string;
  /** The host decision library: the handler of first writes and deferred pages runs it. */
  decide?: string;
  sources: string[];
  regions: number;
  ringBytes?: number;
  /** The handler's threads and http read deadline (http sources). */
  threads?: number;
  httpDeadlineMs?: number;
  onEvents?: () => void;
  /** Woken when deferred faults are queued (takeDeferred). */
  onDefer?: () => void;
}

interface KernelNative {
  KernelEngine: new (opts: NativeKernelOptions) => NativeKernelEngine;
  kernelHookVersion(): number;
}

/** The hook's interface version this runtime speaks (PR_FAULT_POLICY_VERSION). */
export const KERNEL_HOOK_VERSION = 1;

function kernelNative(): KernelNative {
  const n = loadNative() as Partial<KernelNative>;
  if (typeof n.KernelEngine !== 'function' || typeof n.kernelHookVersion !== 'function') {
    throw new RuntimeError('FAULTC_NATIVE', 'the native addon has no kernel engine (rebuild native/)');
  }
  return n as KernelNative;
}

/** The hook's version on the running kernel, or null when it has none (or the addon is missing). */
export function kernelHookVersion(): number | null {
  try {
    const v = kernelNative().kernelHookVersion();
    return v > 0 ? v : null;
  } catch {
    return null;
  }
}

/** Whether `auto` may pick this engine: the running kernel has the hook, in a version this runtime speaks. */
export function detectKernelEngine(): boolean {
  return kernelHookVersion() === KERNEL_HOOK_VERSION;
}

function rethrow(e: unknown): never {
  if (e instanceof Error) {
    throw new RuntimeError(codeOf(e, 'FAULTC_KERNEL'), e.message);
  }
  throw e;
}

const NO_WRITES: WriteCounts = { writeFaults: 0, sigbus: 0, errors: 0 };

/**
 * The program's per-region counters, plus what the handler of the region's
 * `on write` rules counted, as types.ts's RegionStats.
 */
export function statsFromCounts(c: FaultCounts, w: WriteCounts = NO_WRITES): RegionStats {
  return {
    faults: c.faults,
    resolved: {
      zero: c.zero,
      fill: c.fill,
      copy: c.copy + (w.copy ?? 0),
      prefetch: c.prefetch + (w.prefetch ?? 0),
    },
    sigbus: c.sigbus + w.sigbus,
    deferred: c.defer,
    errors: c.errors + w.errors,
    writeFaults: w.writeFaults,
    // The kernel retries a lost race inside the fault; the program never sees it.
    raced: 0,
  };
}

class KernelRegion implements EngineRegion {
  constructor(
    private readonly native: NativeKernelEngine,
    private readonly slot: number,
    private readonly index: number,
    readonly address: bigint,
    readonly size: number,
    readonly buffer: ArrayBuffer | null,
    private readonly id: string,
    private readonly defers: DeferDispatch,
  ) {}

  onDefer(handler: DeferHandler | null): void {
    this.defers.set(this.index, this.id, handler);
  }

  view(offset: number, length: number): ArrayBuffer {
    try {
      return this.native.view(this.slot, offset, length);
    } catch (e) {
      rethrow(e);
    }
  }

  stats(): RegionStats {
    return statsFromCounts(this.native.counts(this.index), this.native.writes(this.slot));
  }

  dirtyPages(): number[] {
    try {
      return this.native.dirtyPages(this.slot);
    } catch (e) {
      rethrow(e);
    }
  }

  resetDirty(): void {
    try {
      this.native.resetDirty(this.slot);
    } catch (e) {
      rethrow(e);
    }
  }

  touch(pages: Uint32Array, opts: TouchOptions = {}): Promise<TouchResult> {
    return this.native.touch(this.slot, pages, opts.threads ?? 1, opts.write ?? false, opts.value ?? 0, opts.latencies ?? false);
  }

  setChange(set: number, firstPage: number, pages: number, add: boolean): void {
    try {
      this.native.setChange(this.index, set, firstPage, pages, add);
    } catch (e) {
      rethrow(e);
    }
  }

  setHas(set: number, page: number): boolean {
    try {
      return this.native.setHas(this.index, set, page);
    } catch (e) {
      rethrow(e);
    }
  }
}

export class KernelInstance implements EngineInstance {
  readonly kind = 'kernel' as const;
  private closed = false;
  /** Its regions' onDefer handlers. */
  readonly defers: DeferDispatch;

  constructor(
    readonly native: NativeKernelEngine,
    private readonly manifest: LoadedManifest,
    private readonly options: EngineOptions = {},
    /** Source indexes whose bytes are on an http server. */
    private readonly remote: ReadonlySet<number> = new Set(),
  ) {
    this.defers = new DeferDispatch(native, options.deferDeadlineMs ?? DEFER_DEADLINE_MS);
  }

  mapRegion(spec: RegionSpec): EngineRegion {
    // Deferred pages, first writes and copies from http sources go to the native handler.
    const ir = this.manifest.ir.regions[spec.index];
    const defer = rulesDefer(ir?.onMissing);
    const mapped = this.options.zeroCopy === false ? null : zeroCopySource(ir);
    // An http source has no file to map: its pages are fetched.
    const mapSource = mapped === null || this.remote.has(mapped) ? -1 : mapped;
    try {
      const r = this.native.addRegion(spec.index, spec.size, spec.at ?? 0n, defer, spec.writeTracking, mapSource, hugeBlocks(ir));
      return new KernelRegion(this.native, r.slot, spec.index, r.address, Number(spec.size), r.buffer, spec.id, this.defers);
    } catch (e) {
      rethrow(e);
    }
  }

  sourceStats(index: number): HttpSourceStats | null {
    if (this.closed) return null;
    const s = this.native.httpStats(index);
    return s ? toHttpSourceStats(s) : null;
  }

  attachProcess(index: number, size: bigint, pid: number, address: bigint): void {
    try {
      this.native.attachProcess(index, pid, address, size);
    } catch (e) {
      rethrow(e);
    }
  }

  async close(): Promise<RawFaultEvent[]> {
    if (this.closed) return [];
    this.closed = true;
    const before = this.native.drainEvents();
    const last = this.native.close();
    return [...decodeFaultEvents(before), ...decodeFaultEvents(last)];
  }
}

/**
 * `defer` and `on write` rules reach user space through a userfaultfd: where
 * it is refused (a container's seccomp profile), such a policy is refused at
 * load, naming the rule and the true cause, rather than at its first fault.
 */
function requireUserfaultfdFor(manifest: LoadedManifest, remote: readonly string[]): void {
  const needs = manifest.ir.regions.flatMap((r) => {
    const rules = [...(rulesDefer(r.onMissing) ? ['`defer`'] : []), ...(tracksWrites(r) ? ['`on write`'] : [])];
    return rules.length ? [`region ${r.id} has ${rules.join(' and ')} rules`] : [];
  });
  needs.push(...remote.map((url) => `source ${url} is fetched over http`));
  if (needs.length === 0) return;
  requireUserfaultfd({ kernelHook: true, engine: 'kernel', context: `policy ${manifest.policy}: ${needs.join(', ')}, which the kernel engine serves through a userfaultfd` });
}

export const kernelEngine: Engine = {
  kind: 'kernel',
  async open(ctx: EngineOpenContext): Promise<EngineInstance> {
    const { KernelEngine } = kernelNative();
    const object = artifactPath(ctx.manifest, 'faultBpfO');
    if (!object) {
      throw new RuntimeError('FAULTC_MANIFEST', `policy ${ctx.manifest.policy} was compiled without its fault-hook object (compile with --emit obj,json)`);
    }
    const remote = ctx.sourcePaths.filter(isHttpLocation);
    requireUserfaultfdFor(ctx.manifest, remote);
    const pump = eventPump<NativeKernelEngine>(ctx.onEvents);
    const defers = deferPump();
    const opts: NativeKernelOptions = {
      object,
      decide: ctx.decideLibrary,
      sources: ctx.sourcePaths,
      regions: ctx.manifest.regions.length,
      onEvents: pump.callback,
      onDefer: defers.callback,
    };
    // Handler threads block on the network: as for the uffd engine.
    if (ctx.options.handlerThreads !== undefined) opts.threads = ctx.options.handlerThreads;
    else if (remote.length > 0) opts.threads = Math.max(availableParallelism(), HTTP_MIN_HANDLER_THREADS);
    if (ctx.options.httpDeadlineMs !== undefined) opts.httpDeadlineMs = ctx.options.httpDeadlineMs;
    let engine: NativeKernelEngine;
    try {
      engine = new KernelEngine(opts);
    } catch (e) {
      rethrow(e);
    }
    pump.bind(engine);
    const remoteIndexes = new Set(ctx.sourcePaths.flatMap((p, i) => (isHttpLocation(p) ? [i] : [])));
    const instance = new KernelInstance(engine, ctx.manifest, ctx.options, remoteIndexes);
    defers.bind(instance.defers);
    return instance;
  },
};
