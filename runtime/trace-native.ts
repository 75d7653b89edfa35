// Typed view of the addon's BPF part (native/src/bpf_binding.cc) and the
// decoding of packed struct faultc_event records.
import { readFileSync } from 'node:fs';
import { ABI_LAYOUTS } from '../codegen/abi.js';
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
  addTarget(tgid: number): void;
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

/** One struct faultc_event, as the ring buffer carries it. */
export interface RawEvent {
  timeNs: bigint;
  address: bigint;
  offset: bigint;
  region: number;
  pid: number;
  tid: number;
  handler: number;
  write: number;
  action: number;
  pages: number;
  error: number;
}

const EV = ABI_LAYOUTS.faultc_event;

export function decodeEvents(buf: Buffer): RawEvent[] {
  const f = EV.fields;
  const n = Math.floor(buf.length / EV.size);
  const out: RawEvent[] = new Array(n);
  // Typed views read far faster than Buffer's readers; they need 8-byte alignment.
  // They read in host byte order, as the kernel wrote the events (x86: little-endian).
  const aligned = buf.byteOffset % 8 === 0;
  const u64 = aligned ? new BigUint64Array(buf.buffer, buf.byteOffset, (n * EV.size) / 8) : undefined;
  const u32 = aligned ? new Uint32Array(buf.buffer, buf.byteOffset, (n * EV.size) / 4) : undefined;
  for (let i = 0; i < n; i++) {
    const o = i * EV.size;
    if (u64 && u32) {
      const q = o / 8;
      const d = o / 4;
      out[i] = {
        timeNs: u64[q + f.time_ns / 8]!,
        address: u64[q + f.address / 8]!,
        offset: u64[q + f.offset / 8]!,
        region: u32[d + f.region / 4]!,
        pid: u32[d + f.pid / 4]!,
        tid: u32[d + f.tid / 4]!,
        handler: u32[d + f.handler / 4]!,
        write: u32[d + f.write / 4]!,
        action: u32[d + f.action / 4]!,
        pages: u32[d + f.pages / 4]!,
        error: u32[d + f.error / 4]!,
      };
    } else {
      out[i] = {
        timeNs: buf.readBigUInt64LE(o + f.time_ns),
        address: buf.readBigUInt64LE(o + f.address),
        offset: buf.readBigUInt64LE(o + f.offset),
        region: buf.readUInt32LE(o + f.region),
        pid: buf.readUInt32LE(o + f.pid),
        tid: buf.readUInt32LE(o + f.tid),
        handler: buf.readUInt32LE(o + f.handler),
        write: buf.readUInt32LE(o + f.write),
        action: buf.readUInt32LE(o + f.action),
        pages: buf.readUInt32LE(o + f.pages),
        error: buf.readUInt32LE(o + f.error),
      };
    }
  }
  return out;
}

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
