// The kernel engine: the policy's <policy>.fault.bpf.o runs inside the
// faulting thread as a per-VMA BPF_PROG_TYPE_PAGE_FAULT program on the faultc
// kernel (kernel/patches/). native/src/kernel_engine.c loads and attaches it;
// this file adapts it to engine.ts.
//
// `defer`: the hook hands such a page to a userfaultfd registered on the
// region; the engine registers one for regions whose rules may defer, and its
// handler gives the page zeros, as the uffd engine does with its own defers.
//
// What it does not do: `on write` rules (track dirty, write notify, write
// sigbus). The hook handles missing pages only; a region with `on write`
// rules maps and resolves its missing pages, and dirtyPages()/resetDirty()
// throw FAULTC_KERNEL_NO_WRITE_TRACKING. Use the uffd engine for those.
import { artifactPath, type LoadedManifest } from '../codegen/manifest.js';
import type { Stmt } from '../compiler/ir.js';
import { FAULT_COUNTS_PER_REGION } from '../codegen/fault-bpf.js';
import { ACTION_CODES } from '../codegen/abi.js';
import { decodeFaultEvents, type RawFaultEvent } from './events.js';
import { RuntimeError, type Engine, type EngineInstance, type EngineOpenContext, type EngineRegion, type RegionSpec, type RegionStats } from './engine.js';
import { loadNative } from './native.js';

interface TouchResult {
  ns: number;
  sum: number;
}

/** The addon's KernelEngine (native/src/kernel_binding.cc). */
export interface NativeKernelEngine {
  addRegion(region: number, size: bigint, at: bigint, defer: boolean): { slot: number; address: bigint; buffer: ArrayBuffer };
  counts(region: number): number[];
  drainEvents(): Buffer;
  lostEvents(): number;
  touch(slot: number, pages: Uint32Array, threads: number, write: boolean, value: number): Promise<TouchResult>;
  close(): Buffer;
}

export interface NativeKernelOptions {
  object: string;
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

/** The program's per-region counters as engine.ts's RegionStats. */
export function statsFromCounts(c: readonly number[]): RegionStats {
  const at = (i: number): number => c[i] ?? 0;
  return {
    faults: at(0),
    resolved: {
      zero: at(ACTION_CODES.zero),
      fill: at(ACTION_CODES.fill),
      copy: at(ACTION_CODES.copy),
      prefetch: at(6),
    },
    sigbus: at(ACTION_CODES.sigbus),
    deferred: at(ACTION_CODES.defer),
    errors: at(FAULT_COUNTS_PER_REGION - 1),
    writeFaults: 0,
    // The kernel retries a lost race inside the fault; the program never sees it.
    raced: 0,
  };
}

function noWriteTracking(): never {
  throw new RuntimeError(
    'FAULTC_KERNEL_NO_WRITE_TRACKING',
    'the kernel engine resolves missing pages only; `on write` rules (track dirty) need the uffd engine',
  );
}

class KernelRegion implements EngineRegion {
  constructor(
    private readonly native: NativeKernelEngine,
    private readonly slot: number,
    private readonly index: number,
    readonly address: bigint,
    readonly size: number,
    readonly buffer: ArrayBuffer,
  ) {}

  stats(): RegionStats {
    return statsFromCounts(this.native.counts(this.index));
  }

  dirtyPages(): number[] {
    return noWriteTracking();
  }

  resetDirty(): void {
    noWriteTracking();
  }

  touch(pages: Uint32Array, opts: { threads?: number; write?: boolean; value?: number } = {}): Promise<TouchResult> {
    return this.native.touch(this.slot, pages, opts.threads ?? 1, opts.write ?? false, opts.value ?? 0);
  }
}

/** Whether any path of these rules ends in `defer`. */
export function rulesDefer(stmts: readonly Stmt[] | undefined): boolean {
  return (stmts ?? []).some((s) => s.kind === 'defer' || (s.kind === 'if' && (rulesDefer(s.then) || rulesDefer(s.else))));
}

export class KernelInstance implements EngineInstance {
  readonly kind = 'kernel' as const;
  private closed = false;

  constructor(
    readonly native: NativeKernelEngine,
    private readonly manifest: LoadedManifest,
  ) {}

  mapRegion(spec: RegionSpec): EngineRegion {
    // A region that may `defer` gets a userfaultfd whose handler (native)
    // gives deferred pages zeros, as the uffd engine does.
    const defer = rulesDefer(this.manifest.ir.regions[spec.index]?.onMissing);
    try {
      const r = this.native.addRegion(spec.index, spec.size, spec.at ?? 0n, defer);
      return new KernelRegion(this.native, r.slot, spec.index, r.address, Number(spec.size), r.buffer);
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

export const kernelEngine: Engine = {
  kind: 'kernel',
  async open(ctx: EngineOpenContext): Promise<EngineInstance> {
    const { KernelEngine } = kernelNative();
    const object = artifactPath(ctx.manifest, 'faultBpfO');
    if (!object) {
      throw new RuntimeError('FAULTC_MANIFEST', `policy ${ctx.manifest.policy} was compiled without its fault-hook object (compile with --emit obj,json)`);
    }
    let native: NativeKernelEngine | undefined;
    try {
      native = new KernelEngine({
        object,
        sources: ctx.sourcePaths,
        regions: ctx.manifest.regions.length,
        onEvents: () => {
          if (native) ctx.onEvents(decodeFaultEvents(native.drainEvents()));
        },
      });
    } catch (e) {
      rethrow(e);
    }
    return new KernelInstance(native, ctx.manifest);
  },
};
