// Fault events as JavaScript sees them: struct faultc_event (ABI v1) decoded,
// with the policy's and the region's names instead of indexes.
import { ABI_LAYOUTS, ACTION_CODES, ERROR_CODES, HANDLER_CODES, type ActionName } from '../codegen/abi.js';

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

export function decodeFaultEvents(buf: Uint8Array): RawFaultEvent[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const f = EV.fields;
  const out: RawFaultEvent[] = [];
  for (let o = 0; o + EV.size <= buf.byteLength; o += EV.size) {
    out.push({
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
    });
  }
  return out;
}

const ACTION_NAMES = new Map<number, ActionName>(
  (Object.entries(ACTION_CODES) as [ActionName, number][]).map(([k, v]) => [v, k]),
);
const ERROR_NAMES = new Map<number, ErrorName>(
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
