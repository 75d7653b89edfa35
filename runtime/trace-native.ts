// Typed view of the addon's BPF part (native/src/bpf_binding.cc) and the
// decoding of packed struct faultc_event records.
import { readFileSync } from 'node:fs';
import { loadNative } from './native.js';

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
  setConfig(config: NativeTraceConfig): void;
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
  TraceSession: new (path: string, ringBytes: number) => NativeTraceSession;
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
export { decodeFaultEvents as decodeEvents, type RawFaultEvent as RawEvent } from './events.js';

/**
 * Whether this process may load BPF programs: CAP_BPF (39) or CAP_SYS_ADMIN
 * (21) in its effective set. Checked up front so a missing privilege gets a
 * plain message instead of a verifier error (EACCES is also a verifier verdict).
 */
export function hasBpfPrivilege(): boolean {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
    if (!m) return process.geteuid?.() === 0;
    const caps = BigInt('0x' + m[1]);
    return (caps & (1n << 39n)) !== 0n || (caps & (1n << 21n)) !== 0n;
  } catch {
    return process.geteuid?.() === 0;
  }
}
