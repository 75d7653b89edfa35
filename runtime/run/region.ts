// What `faultc run` does, as a function: map one region of a policy, touch
// its pages from native threads, verify every touched page against the
// reference evaluator and the source bytes, and report the engine's counters.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RegionStats } from '../engines/types.js';
import type { FaultEvent } from '../api/events.js';
import { packageRoot } from '../engines/native.js';
import { mappedFile } from '../proc/maps.js';
import { loadPolicy, type LoadPolicyOptions } from '../api/policy.js';
import { downloadHttpSources } from '../sources/http.js';
import type { Region } from '../api/region.js';
import { comparePage, expectPage, PAGE, SourceReader, type PageMismatch } from './verify-contents.js';

export type TouchOrder = 'seq' | 'random' | number;

export interface RunOptions extends LoadPolicyOptions {
  region: string;
  touch?: TouchOrder;
  write?: boolean;
  verify?: boolean;
  /** Native threads touching the pages (default 1). */
  threads?: number;
  /** Seed of the random order (default 1). */
  seed?: number;
  /**
   * Told how far each long phase is: often (every few thousand pages, and a
   * few times a second while native threads touch); the caller throttles.
   */
  onProgress?: (phase: RunPhase, done: number, total: number) => void;
}

/** The phases of a run that take long on a large region. */
export type RunPhase = 'evaluating the policy' | 'touching' | 'verifying';

/** How many pages pass between two progress calls of a JavaScript loop. */
const PROGRESS_EVERY = 4096;

export interface RunReport {
  policy: string;
  region: string;
  engine: string;
  address: bigint;
  size: number;
  pages: number;
  /** The file the region's first page is a mapping of (zero-copy), or null for anonymous memory. */
  mappedFrom: string | null;
  touch: { order: string; write: boolean; threads: number; pages: number; ns: number };
  /** Pages left untouched because their first touch would raise SIGBUS. */
  sigbusPages: {
    count: number;
    first: number[];
    reasons: string[];
    /** With verify: the first such page touched in a child process, and how the child ended. */
    probe?: { page: number; signal: string | null; ok: boolean; note?: string };
  };
  verify: { pages: number; mismatches: PageMismatch[] } | null;
  stats: RegionStats;
  /** Pages `track dirty` recorded as written. */
  dirtyPages: number;
  events: { count: number; byAction: Record<string, number>; errors: number };
}

/** Value a write touch stores in each page's first byte. */
export const WRITE_VALUE = 0x5a;

/** A small deterministic generator (xorshift32), so `--touch random` is reproducible. */
function generator(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function shuffle(a: number[], seed: number): number[] {
  const next = generator(seed);
  for (let i = a.length - 1; i > 0; i--) {
    const j = next() % (i + 1);
    const t = a[i] as number;
    a[i] = a[j] as number;
    a[j] = t;
  }
  return a;
}

/**
 * `count` distinct pages of `nPages` in random order, without listing the
 * others (a region may hold 2^28 pages): the first `count` steps of a
 * Fisher-Yates shuffle over a sparse array.
 */
function samplePages(nPages: number, count: number, seed: number): number[] {
  const next = generator(seed);
  const moved = new Map<number, number>();
  const out: number[] = [];
  for (let i = 0; i < Math.min(count, nPages); i++) {
    const j = i + (next() % (nPages - i));
    out.push(moved.get(j) ?? j);
    moved.set(j, moved.get(i) ?? i);
  }
  return out;
}

/** Which pages to touch: all in order, all shuffled, or `order` of them at random. */
function choosePages(nPages: number, order: TouchOrder, seed: number): number[] {
  if (typeof order === 'number') return samplePages(nPages, order, seed);
  const pages = Array.from({ length: nPages }, (_, i) => i);
  return order === 'random' ? shuffle(pages, seed) : pages;
}

/** Most a window over region memory spans when the region has no whole buffer. */
const WINDOW = 2 ** 30;

/** Page `p` of the region's memory: from its buffer, or windows of 1 GiB over regions larger than a buffer may be. */
function pageMemory(region: Region): (page: number) => Uint8Array {
  if (region.size <= 2 ** 32) {
    const mem = new Uint8Array(region.buffer);
    return (p) => mem.subarray(p * PAGE, (p + 1) * PAGE);
  }
  const windows = new Map<number, Uint8Array>();
  return (p) => {
    const w = Math.floor((p * PAGE) / WINDOW);
    let mem = windows.get(w);
    if (!mem) {
      mem = new Uint8Array(region.view(w * WINDOW, Math.min(WINDOW, region.size - w * WINDOW)));
      windows.set(w, mem);
    }
    const at = p * PAGE - w * WINDOW;
    return mem.subarray(at, at + PAGE);
  };
}

/** Touches one sigbus page in a child process: it must die of SIGBUS. */
function probeSigbus(path: string, opts: RunOptions, page: number, write: boolean): NonNullable<RunReport['sigbusPages']['probe']> {
  const script = join(packageRoot, 'dist', 'runtime', 'run', 'sigbus-probe.js');
  if (!existsSync(script)) return { page, signal: null, ok: false, note: 'not checked: dist/ is not built' };
  const options: LoadPolicyOptions = {};
  if (opts.engine !== undefined) options.engine = opts.engine;
  if (opts.sources !== undefined) options.sources = opts.sources;
  if (opts.policy !== undefined) options.policy = opts.policy;
  if (opts.cacheDir !== undefined) options.cacheDir = opts.cacheDir;
  if (opts.userModeOnly) options.userModeOnly = true;
  if (opts.zeroCopy === false) options.zeroCopy = false;
  const r = spawnSync(process.execPath, [script, JSON.stringify({ path, options, region: opts.region, page, write })], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { page, signal: r.signal, ok: r.signal === 'SIGBUS' };
}

export async function runRegion(path: string, opts: RunOptions): Promise<RunReport> {
  const policy = await loadPolicy(path, opts);
  const sources = new SourceReader(policy.sourcePaths, await downloadHttpSources(policy.sourcePaths));
  try {
    const region = policy.region(opts.region);
    const mappedFrom = mappedFile(region.address) || null;
    const events: FaultEvent[] = [];
    region.on('fault', (e) => events.push(e));
    const nPages = region.size / PAGE;
    const write = opts.write ?? false;
    const order = opts.touch ?? 'seq';
    const pages = choosePages(nPages, order, opts.seed ?? 1);

    const ir = policy.manifest.ir;
    const progress = opts.onProgress ?? (() => {});
    // Which pages may be touched; their bytes are worked out again when
    // verified, so a large region never holds a second copy in memory.
    const expect = (p: number) => expectPage(ir, region.index, p, region.address, write, sources);
    const touchable: number[] = [];
    const refused: number[] = [];
    const reasonSet = new Set<string>();
    pages.forEach((p, i) => {
      if (i % PROGRESS_EVERY === 0) progress('evaluating the policy', i, pages.length);
      const e = expect(p);
      if (e.kind === 'bytes') touchable.push(p);
      else if (e.kind === 'sigbus') {
        refused.push(p);
        reasonSet.add(e.reason);
      }
    });
    const reasons = [...reasonSet];

    const threads = opts.threads ?? 1;
    // Native threads touch while this thread watches the fault counter.
    const faultsBefore = region.stats().faults;
    progress('touching', 0, touchable.length);
    const watch = setInterval(() => progress('touching', Math.min(touchable.length, region.stats().faults - faultsBefore), touchable.length), 100);
    let touched: Awaited<ReturnType<Region['touch']>>;
    try {
      touched = await region.touch(Uint32Array.from(touchable), { threads, write, value: WRITE_VALUE });
    } finally {
      clearInterval(watch);
    }

    let verify: RunReport['verify'] = null;
    if (opts.verify) {
      const pageOf = pageMemory(region);
      const mismatches: PageMismatch[] = [];
      for (const [i, p] of touchable.entries()) {
        if (i % PROGRESS_EVERY === 0) progress('verifying', i, touchable.length);
        const e = expect(p);
        if (e.kind !== 'bytes') continue;
        // A write touch stored WRITE_VALUE in the page's first byte (the expectation is this run's own copy).
        if (write) e.bytes[0] = WRITE_VALUE;
        const m = comparePage(pageOf(p), 0, e.bytes);
        if (m) mismatches.push({ ...m, page: p });
      }
      verify = { pages: touchable.length, mismatches };
    }
    let probe: RunReport['sigbusPages']['probe'];
    const first = refused[0];
    if (opts.verify && first !== undefined) probe = probeSigbus(path, opts, first, write);
    const stats = region.stats();
    const dirtyPages = region.dirtyPages().length;
    await policy.close();
    const byAction: Record<string, number> = {};
    for (const e of events) byAction[e.action] = (byAction[e.action] ?? 0) + 1;
    return {
      policy: policy.name,
      region: region.id,
      engine: policy.engine,
      address: region.address,
      size: region.size,
      pages: nPages,
      mappedFrom,
      touch: { order: String(order), write, threads, pages: touchable.length, ns: touched.ns },
      sigbusPages: { count: refused.length, first: refused.slice(0, 8), reasons, ...(probe ? { probe } : {}) },
      verify,
      stats,
      dirtyPages,
      events: { count: events.length, byAction, errors: events.filter((e) => e.error !== null).length },
    };
  } finally {
    sources.close();
    await policy.close();
  }
}
