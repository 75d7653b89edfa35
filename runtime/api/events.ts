// Fault events as JavaScript sees them: struct faultc_event (ABI v1) decoded,
// with the policy's and the region's names instead of indexes.
import { ABI_LAYOUTS, ACTION_CODES, ERROR_CODES, HANDLER_CODES, type ActionName } from '../../abi/abi.js';

export type ErrorName = Exclude<keyof typeof ERROR_CODES, 'none'>;

export interface FaultEvent {
  policy: string;
  region: string;
  /** CLOCK_MONOTONIC nanoseconds. */
  timeNs: bigint;
  /** Faulting page address. */
  address: bigint;
  /** Byte offset of the page in its region. */
  offset: bigint;
  pid: number;
  tid: number;
  handler: 'missing' | 'write';
  access: 'read' | 'write';
  /** Action taken (`none` for a write fault that was only tracked). */
  action: ActionName;
  /** Pages resolved by this fault, prefetch included. */
  pages: number;
  /** Set when the fault failed (the thread got SIGBUS). */
  error: ErrorName | null;
}

/** struct faultc_event with numeric codes. */
export interface RawFaultEvent {
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

/** Decodes a batch of struct faultc_event (host byte order, as the kernel and the addon wrote them). */
export function decodeFaultEvents(buf: Uint8Array): RawFaultEvent[] {
  const f = EV.fields;
  const n = Math.floor(buf.byteLength / EV.size);
  const out: RawFaultEvent[] = new Array(n);
  // Typed views read far faster than DataView; they need 8-byte alignment.
  if (buf.byteOffset % 8 === 0) {
    const u64 = new BigUint64Array(buf.buffer, buf.byteOffset, (n * EV.size) / 8);
    const u32 = new Uint32Array(buf.buffer, buf.byteOffset, (n * EV.size) / 4);
    for (let i = 0; i < n; i++) {
      const q = (i * EV.size) / 8;
      const d = (i * EV.size) / 4;
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
    }
    return out;
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0; i < n; i++) {
    const o = i * EV.size;
    out[i] = {
      timeNs: view.getBigUint64(o + f.time_ns, true),
      address: view.getBigUint64(o + f.address, true),
      offset: view.getBigUint64(o + f.offset, true),
      region: view.getUint32(o + f.region, true),
      pid: view.getUint32(o + f.pid, true),
      tid: view.getUint32(o + f.tid, true),
      handler: view.getUint32(o + f.handler, true),
      write: view.getUint32(o + f.write, true),
      action: view.getUint32(o + f.action, true),
      pages: view.getUint32(o + f.pages, true),
      error: view.getUint32(o + f.error, true),
    };
  }
  return out;
}

const ACTION_NAMES = new Map<number, ActionName>(
  (Object.entries(ACTION_CODES) as [ActionName, number][]).map(([k, v]) => [v, k]),
);
/** An event's or a counter's error code by name. */
export const ERROR_NAMES = new Map<number, ErrorName>(
  (Object.entries(ERROR_CODES) as [keyof typeof ERROR_CODES, number][])
    .filter((e): e is [ErrorName, number] => e[0] !== 'none')
    .map(([k, v]) => [v, k]),
);

export function nameFaultEvent(raw: RawFaultEvent, policy: string, region: string): FaultEvent {
  return {
    policy,
    region,
    timeNs: raw.timeNs,
    address: raw.address,
    offset: raw.offset,
    pid: raw.pid,
    tid: raw.tid,
    handler: raw.handler === HANDLER_CODES.write ? 'write' : 'missing',
    access: raw.write ? 'write' : 'read',
    action: ACTION_NAMES.get(raw.action) ?? 'none',
    pages: raw.pages,
    error: raw.error === 0 ? null : (ERROR_NAMES.get(raw.error) ?? null),
  };
}

/**
 * The native notifier's callback, which drains the engine's events into
 * `deliver`. The callback is a GC root for as long as the engine lives: it
 * reaches the engine only weakly, or a policy dropped without close() would
 * never be collected (nor closed). Made here, apart, so that its closure
 * holds nothing else of the caller's scope.
 */
export function eventPump<T extends { drainEvents(): Buffer }>(deliver: (events: RawFaultEvent[]) => void): { callback: () => void; bind(engine: T): void } {
  let engine: WeakRef<T> | undefined;
  return {
    callback: () => {
      const e = engine?.deref();
      if (e) deliver(decodeFaultEvents(e.drainEvents()));
    },
    bind: (e) => {
      engine = new WeakRef(e);
    },
  };
}
