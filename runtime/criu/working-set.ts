// The working-set file of `faultc lazy-pages --record` / `--replay`
// (docs/criu.md, "Record and replay"): per restored task, the image
// addresses its pages were first touched at, in first-touch order.
//
// Version 2 (written now) keeps the order as runs: [first page, pages], one
// run for pages first touched one after the other at consecutive
// addresses. Version 1 ({ pid, pages: ["0x…", …] }, one entry per page)
// is still read.
import { readFileSync } from 'node:fs';
import { RuntimeError } from '../../base/errors.js';
import { PAGE_SIZE } from './images.js';

export const WORKING_SET_KIND = 'criu-working-set';
export const WORKING_SET_VERSION = 2;

/** A run of pages: the image address of its first page (hex) and how many follow it. */
export type WorkingSetRun = [string, number];

export interface CriuWorkingSet {
  version: typeof WORKING_SET_VERSION;
  kind: typeof WORKING_SET_KIND;
  pageSize: typeof PAGE_SIZE;
  tasks: { pid: number; pages: number; runs: WorkingSetRun[] }[];
}

/**
 * The runs of a first-touch order: repeated pages dropped (only a first
 * touch counts), then each page that follows the one before it in both
 * order and address joins its run.
 */
export function toRuns(addresses: Iterable<bigint>): { pages: number; runs: WorkingSetRun[] } {
  const seen = new Set<bigint>();
  const runs: WorkingSetRun[] = [];
  let start = -1n;
  let n = 0;
  const page = BigInt(PAGE_SIZE);
  for (const a of addresses) {
    if (seen.has(a)) continue;
    seen.add(a);
    if (n > 0 && a === start + BigInt(n) * page) {
      n++;
      continue;
    }
    if (n > 0) runs.push(['0x' + start.toString(16), n]);
    start = a;
    n = 1;
  }
  if (n > 0) runs.push(['0x' + start.toString(16), n]);
  return { pages: seen.size, runs };
}

export function workingSetOf(tasks: { pid: number; recorded: Iterable<bigint> }[]): CriuWorkingSet {
  return {
    version: WORKING_SET_VERSION,
    kind: WORKING_SET_KIND,
    pageSize: PAGE_SIZE,
    tasks: tasks.filter((t) => t.pid > 0).map((t) => ({ pid: t.pid, ...toRuns(t.recorded) })),
  };
}

function bad(path: string, why: string): RuntimeError {
  return new RuntimeError('FAULTC_CRIU_WORKING_SET', `${path}: ${why}`);
}

function pageAddress(path: string, pid: number, text: unknown): number {
  const a = typeof text === 'string' && /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text, 16) : Number.NaN;
  if (!Number.isSafeInteger(a) || a % PAGE_SIZE !== 0) throw bad(path, `pid ${pid}: ${JSON.stringify(text)} is not a page address (hex, a multiple of ${PAGE_SIZE})`);
  return a;
}

/** Every page of a version 2 task, in order. */
function expandRuns(path: string, pid: number, runs: unknown): number[] {
  if (!Array.isArray(runs)) throw bad(path, `pid ${pid}: "runs" is not a list`);
  const out: number[] = [];
  runs.forEach((r: unknown, i) => {
    if (!Array.isArray(r) || r.length !== 2) throw bad(path, `pid ${pid}: run ${i} is not [address, pages]`);
    const start = pageAddress(path, pid, r[0]);
    const n: unknown = r[1];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || !Number.isSafeInteger(start + n * PAGE_SIZE)) {
      throw bad(path, `pid ${pid}: run ${i} has ${JSON.stringify(n)} pages (a positive integer)`);
    }
    for (let k = 0; k < n; k++) out.push(start + k * PAGE_SIZE);
  });
  return out;
}

/**
 * Reads a working set: per pid, the image addresses to install first, in
 * order. Versions 1 and 2; anything else is refused with
 * FAULTC_CRIU_WORKING_SET saying why.
 */
export function readWorkingSet(path: string): Map<number, number[]> {
  let ws: { version?: unknown; kind?: unknown; pageSize?: unknown; tasks?: unknown } | null;
  try {
    ws = JSON.parse(readFileSync(path, 'utf8')) as typeof ws;
  } catch (e) {
    throw new RuntimeError('FAULTC_CRIU_WORKING_SET', `cannot read ${path}: ${(e as Error).message}`);
  }
  if (ws === null || typeof ws !== 'object' || ws.kind !== WORKING_SET_KIND || !Array.isArray(ws.tasks)) {
    throw bad(path, 'not a working set written by faultc lazy-pages --record');
  }
  if (ws.version !== 1 && ws.version !== WORKING_SET_VERSION) {
    throw bad(path, `working-set version ${JSON.stringify(ws.version)} is not supported (this faultc reads versions 1 and ${WORKING_SET_VERSION})`);
  }
  if (ws.pageSize !== PAGE_SIZE) throw bad(path, `page size ${JSON.stringify(ws.pageSize)}, not ${PAGE_SIZE}`);
  const out = new Map<number, number[]>();
  for (const t of ws.tasks as { pid?: unknown; pages?: unknown; runs?: unknown }[]) {
    const pid = t?.pid;
    if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) throw bad(path, `a task without a pid (${JSON.stringify(pid)})`);
    if (out.has(pid)) throw bad(path, `pid ${pid} is listed twice`);
    if (ws.version === 1) {
      if (!Array.isArray(t.pages)) throw bad(path, `pid ${pid}: "pages" is not a list`);
      out.set(pid, t.pages.map((p: unknown) => pageAddress(path, pid, p)));
    } else {
      const pages = expandRuns(path, pid, t.runs);
      if (t.pages !== undefined && t.pages !== pages.length) throw bad(path, `pid ${pid}: its runs hold ${pages.length} pages, "pages" says ${JSON.stringify(t.pages)}`);
      out.set(pid, pages);
    }
  }
  return out;
}
