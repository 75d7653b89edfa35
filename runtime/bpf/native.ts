// Typed view of the addon's BPF part (native/src/bpf_binding.cc) and the
// decoding of packed struct faultc_event records.
import { loadNative } from '../engines/native.js';

export interface VerifiedProgram {
  name: string;
  section: string;
  /** Instructions the verifier processed (-errno when unknown). */
  verifiedInsns: number;
}

export interface VerifyOutcome {
  ok: boolean;
  errno: number;
  /** The verifier's log of a rejected program and libbpf's warnings. */
  log: string;
  programs: VerifiedProgram[];
}

export interface NativeRange {
  start: bigint;
  end: bigint;
  base: bigint;
  region: number;
}

export interface NativeTraceConfig {
  mode: number;
  flags: number;
  wakeupBytes: number;
  sourceSizes?: bigint[];
  /** Region index + 1 placed on the [heap] / [stack] VMA in the kernel; 0 or absent for none. */
  heapRegion?: number;
  stackRegion?: number;
}

export interface NativeTraceSession {
  attach(): void;
  /** Detaches the programs; maps, counters and the ring buffer stay. */
  detach(): void;
  /** state: TRACE_TARGET.traced (default) or .atExec (traced from its next exec). */
  addTarget(tgid: number, state?: number): void;
  removeTarget(tgid: number): void;
  setRanges(ranges: NativeRange[]): void;
  /** File VMA filters placed in the kernel: device (kernel encoding) and inode. */
  setFiles(files: { dev: bigint; ino: bigint; region: number }[]): void;
  start(onBatch: (events: Buffer) => void, pollMs: number): void;
  stop(): Promise<void>;
  counts(regions: number): bigint[];
  lost(): bigint;
  close(): void;
}

interface BpfNative {
  verify(path: string, progType?: number): VerifyOutcome;
  /** Loads the program with `config` as its load-time configuration (read-only once loaded). */
  TraceSession: new (path: string, ringBytes: number, config: NativeTraceConfig) => NativeTraceSession;
}

/** An error thrown by the addon: errno and the verifier log ride along. */
export interface NativeError extends Error {
  errno?: number;
  log?: string;
}

export function bpfNative(): BpfNative {
  const native = loadNative() as { bpf?: BpfNative };
  if (!native.bpf) throw new Error('faultc: the native addon has no BPF support (rebuild native/)');
  return native.bpf;
}

// Ring-buffer events are struct faultc_event, decoded where every engine's are.
export { decodeFaultEvents as decodeEvents, type RawFaultEvent as RawEvent } from '../api/events.js';
