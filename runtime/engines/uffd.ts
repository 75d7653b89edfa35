// The userfaultfd engine: native/src/uffd/'s handler threads run the
// policy's decision library; this file only adapts them to engines/types.ts.
import { zeroCopySource } from '../../compiler/region-traits.js';
import { decodeFaultEvents, eventPump } from '../api/events.js';
import type { LoadedManifest } from '../../codegen/manifest.js';
import { codeOf, RuntimeError } from '../../base/errors.js';
import { detectKernelEngine } from './detect.js';
import type { TouchOptions, TouchResult, Engine, EngineInstance, EngineOpenContext, EngineRegion, RegionSpec, RegionStats } from './types.js';
import { HTTP_MIN_HANDLER_THREADS, isHttpLocation, toHttpSourceStats, type HttpSourceStats, type NativeHttpStats } from '../sources/http.js';
import { DEFER_DEADLINE_MS, DeferDispatch, deferPump, type DeferHandler, type DeferNative } from '../api/defer.js';
import { loadNative } from './native.js';
import { availableParallelism } from 'node:os';
import { debug } from '../api/debug.js';
import { userfaultfdAccess } from '../proc/uffd-access.js';

interface NativeStats {
  faults: number;
  zero: number;
  fill: number;
  copy: number;
  prefetch: number;
  sigbus: number;
  deferred: number;
  errors: number;
  writeFaults: number;
  raced: number;
}

/** The addon's UffdEngine (native/src/uffd_binding.cc). */
export interface NativeUffdEngine extends DeferNative {
  /** zeroCopySource: the source every page copies at its own offset, or -1. */
  addRegion(region: number, size: bigint, at: bigint, writeTracking: boolean, zeroCopySource: number): { slot: number; address: bigint; buffer: ArrayBuffer | null };
  view(slot: number, offset: number, length: number): ArrayBuffer;
  stats(slot: number): NativeStats;
  dirtyPages(slot: number): number[];
  resetDirty(slot: number): void;
  drainEvents(): Buffer;
  lostEvents(): number;
  settle(ms?: number): boolean;
  pause(paused: boolean): void;
  touch(slot: number, pages: Uint32Array, threads: number, write: boolean, value: number, latencies: boolean): Promise<TouchResult>;
  info(): {
    threads: number;
    poison: boolean;
    features: bigint;
    /** One handler pinned per CPU (docs/uffd-engine.md), else shared handlers. */
    perCpu: boolean;
    /** Each handler: its CPU (per-CPU mode, else -1), faults it resolved, faults it handed to another CPU's handler. */
    handlers: { cpu: number; resolved: number; handed: number }[];
    /** The CPU wake-up latency request: held at 0 µs, open but idle, or never made. */
    cpuLatency: 'held' | 'idle' | 'off';
  };
  httpStats(source: number): NativeHttpStats | null;
  setChange(slot: number, set: number, firstPage: number, pages: number, add: boolean): void;
  setHas(slot: number, set: number, page: number): boolean;
  close(): Buffer;
}

export interface NativeUffdOptions {
  decide: string;
  sources: string[];
  /** Run-time sets the decision library tests, and the policy's regions (its set table's shape). */
  sets?: number;
  regions?: number;
  threads?: number;
  userModeOnly?: boolean;
  forceSigbusFallback?: boolean;
  followFaultingThreads?: boolean;
  perCpuHandlers?: boolean;
  cpuLatencyRequest?: boolean;
  zeroCopy?: boolean;
  httpDeadlineMs?: number;
  onEvents?: () => void;
  /** Woken when deferred faults are queued (takeDeferred). */
  onDefer?: () => void;
}

interface UffdNative {
  UffdEngine: new (opts: NativeUffdOptions) => NativeUffdEngine;
  touchAnonymous(pages: number, threads: number, write: boolean): Promise<TouchResult>;
}

export function uffdNative(): UffdNative {
  const n = loadNative() as Partial<UffdNative>;
  if (typeof n.UffdEngine !== 'function' || typeof n.touchAnonymous !== 'function') {
    throw new RuntimeError('FAULTC_NATIVE', 'the native addon has no uffd engine (rebuild native/)');
  }
  return n as UffdNative;
}

/** Errors from the addon carry FAULTC_UFFD_<ERRNO> codes; keep them. */
function rethrow(e: unknown): never {
  if (e instanceof Error) {
    throw new RuntimeError(codeOf(e, 'FAULTC_UFFD'), e.message);
  }
  throw e;
}

function toStats(s: NativeStats): RegionStats {
  return {
    faults: s.faults,
    resolved: { zero: s.zero, fill: s.fill, copy: s.copy, prefetch: s.prefetch },
    sigbus: s.sigbus,
    deferred: s.deferred,
    errors: s.errors,
    writeFaults: s.writeFaults,
    raced: s.raced,
  };
}

class UffdRegion implements EngineRegion {
  constructor(
    private readonly native: NativeUffdEngine,
    private readonly slot: number,
    readonly address: bigint,
    readonly size: number,
    readonly buffer: ArrayBuffer | null,
    private readonly spec: RegionSpec,
    private readonly defers: DeferDispatch,
  ) {}

  onDefer(handler: DeferHandler | null): void {
    this.defers.set(this.spec.index, this.spec.id, handler);
  }

  view(offset: number, length: number): ArrayBuffer {
    try {
      return this.native.view(this.slot, offset, length);
    } catch (e) {
      rethrow(e);
    }
  }

  stats(): RegionStats {
    return toStats(this.native.stats(this.slot));
  }

  dirtyPages(): number[] {
    return this.native.dirtyPages(this.slot);
  }

  resetDirty(): void {
    this.native.resetDirty(this.slot);
  }

  setChange(set: number, firstPage: number, pages: number, add: boolean): void {
    try {
      this.native.setChange(this.slot, set, firstPage, pages, add);
    } catch (e) {
      rethrow(e);
    }
  }

  setHas(set: number, page: number): boolean {
    return this.native.setHas(this.slot, set, page);
  }

  touch(pages: Uint32Array, opts: TouchOptions = {}): Promise<TouchResult> {
    return this.native.touch(this.slot, pages, opts.threads ?? 1, opts.write ?? false, opts.value ?? 0, opts.latencies ?? false);
  }
}

export class UffdInstance implements EngineInstance {
  readonly kind = 'uffd' as const;
  private closed = false;
  /** Its regions' onDefer handlers. */
  readonly defers: DeferDispatch;

  constructor(
    /** The native engine; tests use its hooks (pause, settle, info). */
    readonly native: NativeUffdEngine,
    private readonly manifest: LoadedManifest,
    deferDeadlineMs = DEFER_DEADLINE_MS,
  ) {
    this.defers = new DeferDispatch(native, deferDeadlineMs);
  }

  mapRegion(spec: RegionSpec): EngineRegion {
    // The native side maps such a region from its source when the source is on tmpfs.
    const zeroCopy = zeroCopySource(this.manifest.ir.regions[spec.index]) ?? -1;
    try {
      const r = this.native.addRegion(spec.index, spec.size, spec.at ?? 0n, spec.writeTracking, zeroCopy);
      return new UffdRegion(this.native, r.slot, r.address, Number(spec.size), r.buffer, spec, this.defers);
    } catch (e) {
      rethrow(e);
    }
  }

  lostEvents(): number {
    return this.closed ? 0 : this.native.lostEvents();
  }

  sourceStats(index: number): HttpSourceStats | null {
    if (this.closed) return null;
    const s = this.native.httpStats(index);
    return s ? toHttpSourceStats(s) : null;
  }

  async close(): Promise<ReturnType<typeof decodeFaultEvents>> {
    if (this.closed) return [];
    this.closed = true;
    // Events queued before the stop, then those of faults resolved while stopping.
    const before = this.native.drainEvents();
    const last = this.native.close();
    return [...decodeFaultEvents(before), ...decodeFaultEvents(last)];
  }
}

export const uffdEngine: Engine = {
  kind: 'uffd',
  async open(ctx: EngineOpenContext): Promise<EngineInstance> {
    const { UffdEngine } = uffdNative();
    const pump = eventPump<NativeUffdEngine>(ctx.onEvents);
    const defers = deferPump();
    const opts: NativeUffdOptions = {
      decide: ctx.decideLibrary,
      sources: ctx.sourcePaths,
      sets: ctx.manifest.ir.sets?.length ?? 0,
      regions: ctx.manifest.ir.regions.length,
      onEvents: pump.callback,
      onDefer: defers.callback,
    };
    if (ctx.options.handlerThreads !== undefined) opts.threads = ctx.options.handlerThreads;
    else if (ctx.sourcePaths.some(isHttpLocation)) opts.threads = Math.max(availableParallelism(), HTTP_MIN_HANDLER_THREADS);
    if (ctx.options.httpDeadlineMs !== undefined) opts.httpDeadlineMs = ctx.options.httpDeadlineMs;
    if (ctx.options.userModeOnly) opts.userModeOnly = true;
    if (ctx.options.forceSigbusFallback) opts.forceSigbusFallback = true;
    if (ctx.options.followFaultingThreads === false) opts.followFaultingThreads = false;
    if (ctx.options.perCpuHandlers !== false) opts.perCpuHandlers = true;
    if (ctx.options.cpuLatencyRequest === false) opts.cpuLatencyRequest = false;
    if (ctx.options.zeroCopy === false) opts.zeroCopy = false;
    let engine: NativeUffdEngine;
    try {
      engine = new UffdEngine(opts);
    } catch (e) {
      // Opening the userfaultfd failed: say why (seccomp, privilege, the device).
      const access = userfaultfdAccess({ kernelHook: await detectKernelEngine(), userModeOnly: ctx.options.userModeOnly ?? false, engine: 'uffd' });
      if (access.message) throw new RuntimeError(access.code === '' ? 'FAULTC_UFFD' : access.code, access.message);
      rethrow(e);
    }
    pump.bind(engine);
    debug(() => {
      const i = engine.info();
      return `uffd: ${i.threads} handler thread(s), UFFDIO_API features 0x${i.features.toString(16)}, poison ${i.poison ? 'yes' : 'no (SIGBUS fallback)'}${opts.userModeOnly ? ', user-mode faults only' : ''}`;
    });
    const instance = new UffdInstance(engine, ctx.manifest, ctx.options.deferDeadlineMs);
    defers.bind(instance.defers);
    return instance;
  },
};

/** First touch of fresh anonymous memory from native threads: the bench baseline. */
export function touchAnonymous(pages: number, threads: number, write: boolean): Promise<TouchResult> {
  return uffdNative().touchAnonymous(pages, threads, write);
}
