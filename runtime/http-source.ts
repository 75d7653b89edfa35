// http sources on the runtime side: the handler threads fetch the bytes
// (native/src/uffd/source_http.c); here only where a source's location is
// passed on unchanged, and the request counters' shape.
import { resolve } from 'node:path';
import { ERROR_NAMES, type ErrorName } from './events.js';

export function isHttpLocation(location: string): boolean {
  return location.startsWith('http://');
}

/** A source's location for the engine: an http URL as it is, a path made absolute. */
export function sourceLocation(location: string): string {
  return isHttpLocation(location) ? location : resolve(location);
}

/** Handler threads for a policy with an http source when none is asked for: they block on the network. */
export const HTTP_MIN_HANDLER_THREADS = 4;

/** Counters of one http source since load (`policy.sourceStats(id)`). */
export interface HttpSourceStats {
  /** Range GETs sent, retries included (one per run of pages). */
  requests: number;
  retries: number;
  /** Body bytes received into pages. */
  bytes: number;
  /** Reads given up: each ended in SIGBUS with an error event. */
  failures: number;
  /** Why the last read given up failed, or null. */
  lastCause: ErrorName | null;
  /** The last HTTP status seen, or null. */
  lastStatus: number | null;
}

export interface NativeHttpStats {
  requests: number;
  retries: number;
  bytes: number;
  failures: number;
  lastCause: number;
  lastStatus: number;
}

export function toHttpSourceStats(s: NativeHttpStats): HttpSourceStats {
  return {
    requests: s.requests,
    retries: s.retries,
    bytes: s.bytes,
    failures: s.failures,
    lastCause: ERROR_NAMES.get(s.lastCause) ?? null,
    lastStatus: s.lastStatus === 0 ? null : s.lastStatus,
  };
}
