// http sources on the runtime side: the handler threads fetch the bytes
// (native/src/uffd/source_http.c); here only where a source's location is
// passed on unchanged, and the request counters' shape.
import { resolve } from 'node:path';
import { RuntimeError } from '../../base/errors.js';
import { ERROR_NAMES, type ErrorName } from '../api/events.js';

export function isHttpLocation(location: string): boolean {
  return location.startsWith('http://');
}

/** A source's location for the engine: an http URL as it is, a path made absolute. */
export function sourceLocation(location: string): string {
  return isHttpLocation(location) ? location : resolve(location);
}

/**
 * The whole of every http source, one plain GET each (undefined for files):
 * `faultc run` checks the pages the range GETs brought against these bytes.
 */
export async function downloadHttpSources(locations: string[]): Promise<(Uint8Array | undefined)[]> {
  return Promise.all(
    locations.map(async (l) => {
      if (!isHttpLocation(l)) return undefined;
      const res = await fetch(l);
      if (!res.ok) throw new RuntimeError('FAULTC_SOURCE_HTTP', `cannot download ${l} to check pages against: ${res.status} ${res.statusText}`);
      return new Uint8Array(await res.arrayBuffer());
    }),
  );
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
  /** Nanoseconds the handlers spent reading (retries and back-off included)... */
  readNs: number;
  /** ...of which libcurl's own transfer time: the rest is faultc's overhead per read. */
  transferNs: number;
  /** TCP connections opened: every other request went over a kept-alive one. */
  connects: number;
  /** Reads begun while another read of this source was in progress (faults fetched at the same time). */
  overlapped: number;
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
  readNs: number;
  transferNs: number;
  connects: number;
  overlapped: number;
  lastCause: number;
  lastStatus: number;
}

export function toHttpSourceStats(s: NativeHttpStats): HttpSourceStats {
  return {
    requests: s.requests,
    retries: s.retries,
    bytes: s.bytes,
    failures: s.failures,
    readNs: s.readNs,
    transferNs: s.transferNs,
    connects: s.connects,
    overlapped: s.overlapped,
    lastCause: ERROR_NAMES.get(s.lastCause) ?? null,
    lastStatus: s.lastStatus === 0 ? null : s.lastStatus,
  };
}
