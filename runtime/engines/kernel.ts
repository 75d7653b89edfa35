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
//   comes to the handler (dirty bitmap, notify, SIGBUS).
import { engineWords } from '../api/wording.js';
import { artifactPath, type LoadedManifest } from '../../codegen/manifest.js';
import { rulesDefer, tracksWrites, zeroCopySource } from '../../compiler/region-traits.js';
import { isHttpLocation } from '../sources/http.js';
import { FAULT_COUNTS_PER_REGION } from '../../abi/fault.js';
import { ACTION_CODES } from '../../abi/abi.js';
import { decodeFaultEvents, eventPump, type RawFaultEvent } from '../api/events.js';
import { RuntimeError } from '../api/errors.js';
import type { Engine, EngineInstance, EngineOpenContext, EngineOptions, EngineRegion, RegionSpec, RegionStats } from './types.js';
import { loadNative } from './native.js';
import { requireUserfaultfd } from '../proc/uffd-access.js';

interface TouchResult {
  ns: number;
  sum: number;
}

/** The addon's KernelEngine (native/src/kernel_binding.cc). */
export interface NativeKernelEngine {
  /** mapSource: map the region from that source (zero-copy), or -1 for anonymous memory. */
  addRegion(region: number, size: bigint, at: bigint, defer: boolean, writes: boolean, mapSource: number): { slot: number; address: bigint; buffer: ArrayBuffer | null };
  view(slot: number, offset: number, length: number): ArrayBuffer;
  counts(region: number): number[];
  writes(slot: number): WriteCounts;
  /**
   * Attaches the program as `region` to memory another process mapped
   * (private anonymous, [address, address + size)): its missing pages there
   * run the program. Needs CAP_BPF and the right to ptrace `pid`
   * (FAULTC_KERNEL_EPERM); FAULTC_KERNEL_ESRCH when it is gone.
   */
  attachProcess(region: number, pid: number, address: bigint, size: bigint): void;
  dirtyPages(slot: number): number[];
  resetDirty(slot: number): void;
  drainEvents(): Buffer;
  lostEvents(): number;
  touch(slot: number, pages: Uint32Array, threads: number, write: boolean, value: number): Promise<TouchResult>;
  close(): Buffer;
}

/** What the handler of a region's `on write` rules counted. */
export interface WriteCounts {
  writeFaults: number;
  sigbus: number;
  errors: number;
}

export interface NativeKernelOptions {
  object: string;
  /** The host decision library: the handler of first writes and deferred pages runs it. */
  decide?: string;
  sources: string[];
  regions: number;
  ringBytes?: number;
  onEvents?: () => void;
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
    const code = (e as Error & { code?: unknown }).code;
    throw new RuntimeError(typeof code === 'string' ? code : 'FAULTC_KERNEL', e.message);
  }
  throw e;
}

const NO_WRITES: WriteCounts = { writeFaults: 0, sigbus: 0, errors: 0 };

/**
 * The program's per-region counters, plus what the handler of the region's
 * `on write` rules counted, as types.ts's RegionStats.
 */
export function statsFromCounts(c: readonly number[], w: WriteCounts = NO_WRITES): RegionStats {
  const at = (i: number): number => c[i] ?? 0;
  return {
    faults: at(0),
    resolved: {
      zero: at(ACTION_CODES.zero),
      fill: at(ACTION_CODES.fill),
      copy: at(ACTION_CODES.copy),
      prefetch: at(6),
    },
    sigbus: at(ACTION_CODES.sigbus) + w.sigbus,
    deferred: at(ACTION_CODES.defer),
    errors: at(FAULT_COUNTS_PER_REGION - 1) + w.errors,
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
  ) {}

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

  touch(pages: Uint32Array, opts: { threads?: number; write?: boolean; value?: number } = {}): Promise<TouchResult> {
    return this.native.touch(this.slot, pages, opts.threads ?? 1, opts.write ?? false, opts.value ?? 0);
  }
}

export class KernelInstance implements EngineInstance {
  readonly kind = 'kernel' as const;
  private closed = false;

  constructor(
    readonly native: NativeKernelEngine,
    private readonly manifest: LoadedManifest,
    private readonly options: EngineOptions = {},
  ) {}

  mapRegion(spec: RegionSpec): EngineRegion {
    // Deferred pages and first writes go to the native handler.
    const ir = this.manifest.ir.regions[spec.index];
    const defer = rulesDefer(ir?.onMissing);
    try {
      const r = this.native.addRegion(spec.index, spec.size, spec.at ?? 0n, defer, spec.writeTracking, (this.options.zeroCopy === false ? null : zeroCopySource(ir)) ?? -1);
      return new KernelRegion(this.native, r.slot, spec.index, r.address, Number(spec.size), r.buffer);
    } catch (e) {
      rethrow(e);
    }
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
function requireUserfaultfdFor(manifest: LoadedManifest): void {
  const needs = manifest.ir.regions.flatMap((r) => {
    const rules = [...(rulesDefer(r.onMissing) ? ['`defer`'] : []), ...(tracksWrites(r) ? ['`on write`'] : [])];
    return rules.length ? [`region ${r.id} has ${rules.join(' and ')} rules`] : [];
  });
  if (needs.length === 0) return;
  requireUserfaultfd({ kernelHook: true, engine: 'kernel', context: `policy ${manifest.policy}: ${needs.join(', ')}, which the kernel engine serves through a userfaultfd` });
}

export const kernelEngine: Engine = {
  kind: 'kernel',
  async open(ctx: EngineOpenContext): Promise<EngineInstance> {
    const remote = ctx.sourcePaths.find(isHttpLocation);
    if (remote !== undefined) {
      throw new RuntimeError('FAULTC_ENGINE_UNSUPPORTED', `the kernel engine reads files only, not ${remote}: use ${engineWords('uffd')} (docs/http-sources.md)`);
    }
    const { KernelEngine } = kernelNative();
    const object = artifactPath(ctx.manifest, 'faultBpfO');
    if (!object) {
      throw new RuntimeError('FAULTC_MANIFEST', `policy ${ctx.manifest.policy} was compiled without its fault-hook object (compile with --emit obj,json)`);
    }
    requireUserfaultfdFor(ctx.manifest);
    const pump = eventPump<NativeKernelEngine>(ctx.onEvents);
    let engine: NativeKernelEngine;
    try {
      engine = new KernelEngine({
        object,
        decide: ctx.decideLibrary,
        sources: ctx.sourcePaths,
        regions: ctx.manifest.regions.length,
        onEvents: pump.callback,
      });
    } catch (e) {
      rethrow(e);
    }
    pump.bind(engine);
    return new KernelInstance(engine, ctx.manifest, ctx.options);
  },
};
