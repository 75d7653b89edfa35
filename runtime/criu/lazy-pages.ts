// faultc's lazy-pages daemon for `criu restore --lazy-pages` (docs/criu.md):
// reads the images, hands the native daemon each task's lazy areas and the
// order to install them in, and turns its counters into a report.
import { join } from 'node:path';
import { RuntimeError } from '../../base/errors.js';
import { loadNative } from '../engines/native.js';
import { statSync } from 'node:fs';
import type { PolicyIR } from '../../compiler/ir.js';
import { PAGE_SIZE, PE_LAZY, PE_PRESENT, readFileNames, readMmLayout, readTasks, type LazyArea, type TaskImages } from './images.js';
import { planTask } from './plan.js';
import { workingSetOf, type CriuWorkingSet } from './working-set.js';

export { readWorkingSet, workingSetOf, type CriuWorkingSet } from './working-set.js';

export const SOCKET_NAME = 'lazy-pages.socket';

/** One run of lazy pages inside one VMA (the unit of a UFFDIO_COPY). */
export interface TaskReport {
  pid: number;
  parentPid: number;
  totalPages: number;
  demandFaults: number;
  pagesDemand: number;
  pagesPrefetch: number;
  pagesBackground: number;
  /** Of the background pages, those installed before the restore had finished. */
  pagesEarly: number;
  pagesZero: number;
  pagesDropped: number;
  pagesRaced: number;
  errors: number;
  adoptMs: number;
  firstFaultMs: number | null;
  doneMs: number | null;
  gone: boolean;
}

export interface LazyError {
  pid: number;
  address: string;
  code: string;
  message: string;
}

export interface LazyReport {
  tasks: TaskReport[];
  /** When the restore said it had finished (ms since the daemon began serving); null: it never did. */
  restoredMs: number | null;
  /** With a policy: per restored task, its lazy pages per region (`""`: no region took them). */
  plan?: { pid: number; pages: Record<string, number> }[];
  errors: LazyError[];
  elapsedMs: number;
}

export interface LazyPagesOptions {
  /** Images directory (and the socket's directory unless socketDir). */
  dir: string;
  socketDir?: string;
  /** Pages copied after a faulting page with it (default 15). */
  prefetch?: number;
  /** Pages per background UFFDIO_COPY while no fault comes (default 512: 2 MiB; 64 while faults come). */
  batch?: number;
  /** Handler threads, each serving faults and copying the background between them (default: one per online CPU). */
  threads?: number;
  /** Copy the pages nobody asked for (default true; off while recording). */
  background?: boolean;
  /** Keep each task's first-touch order (no prefetch, no background copy) until stopRecording(). */
  record?: boolean;
  /** Record for so long after the first recorded touch only (0: until stopRecording() or the end). */
  recordMs?: number;
  /** Install these pages first (per pid), in order. */
  first?: Map<number, number[]>;
  acceptTimeoutMs?: number;
  /** A checked policy whose regions are taken from the image (runtime/criu/plan.ts). */
  policy?: PolicyIR;
}

interface NativeReport {
  tasks: (Omit<TaskReport, 'adoptMs' | 'firstFaultMs' | 'doneMs'> & {
    adoptNs: number;
    firstFaultNs: number;
    doneNs: number;
    recorded: BigUint64Array;
  })[];
  errors: { pid: number; address: bigint; code: string; message: string }[];
  restoredNs: number;
}

interface NativeLazyPages {
  run(): Promise<void>;
  stop(): void;
  stopRecording(): void;
  report(): NativeReport;
  close(): void;
}

type LazyPagesCtor = new (opts: Record<string, unknown>, tasks: Record<string, unknown>[]) => NativeLazyPages;

/**
 * The lazy areas of a task: its PE_LAZY pagemap entries, split where a VMA
 * ends (one UFFDIO_COPY never crosses VMAs). An entry that is lazy but not in
 * this pages image (PE_PARENT: an incremental dump) is refused.
 */
export function lazyAreas(task: TaskImages): LazyArea[] {
  const vmas = [...task.vmas].sort((a, b) => a.start - b.start);
  const out: LazyArea[] = [];
  for (const e of task.pagemap.entries) {
    if ((e.flags & PE_LAZY) === 0) continue;
    if ((e.flags & PE_PRESENT) === 0) {
      throw new RuntimeError(
        'FAULTC_CRIU_UNSUPPORTED',
        `pagemap-${task.pid}.img: lazy pages at 0x${e.vaddr.toString(16)} are in a parent image (incremental dumps are not supported)`,
      );
    }
    let start = e.vaddr;
    const end = e.vaddr + e.nrPages * PAGE_SIZE;
    for (const v of vmas) {
      if (start >= end) break;
      if (v.end <= start || v.start >= end) continue;
      if (v.start > start) {
        throw new RuntimeError('FAULTC_CRIU_IMAGE', `pagemap-${task.pid}.img: pages at 0x${start.toString(16)} lie outside every VMA of mm-${task.pid}.img`);
      }
      const stop = Math.min(end, v.end);
      out.push({ start, nrPages: (stop - start) / PAGE_SIZE, fileOffset: e.fileOffset + (start - e.vaddr), vma: v });
      start = stop;
    }
    if (start < end) {
      throw new RuntimeError('FAULTC_CRIU_IMAGE', `pagemap-${task.pid}.img: pages at 0x${start.toString(16)} lie outside every VMA of mm-${task.pid}.img`);
    }
  }
  return out;
}

const ms = (ns: number): number => Math.round(ns / 1e4) / 100;

/**
 * Ends the daemon's process with status once its report is written: at
 * once (native `_exit`), without Node's teardown of its threads and heap,
 * which the end of a restore would otherwise wait for (docs/criu.md).
 * stdout and stderr writes are synchronous for files and pipes, so nothing
 * written is lost.
 */
export function exitDaemon(status: number): never {
  const addon = loadNative() as { lazyPagesExit?: (status: number) => never };
  if (addon.lazyPagesExit) addon.lazyPagesExit(status);
  process.exit(status);
}

/** A daemon bound to <dir>/lazy-pages.socket; run() serves one restore. */
export class LazyPagesDaemon {
  readonly socketPath: string;
  readonly tasks: TaskImages[];
  private readonly native: NativeLazyPages;
  private startedAt = 0;
  private last: NativeReport | undefined;
  private readonly plans: { pid: number; pages: Record<string, number> }[] = [];

  constructor(readonly opts: LazyPagesOptions) {
    this.tasks = readTasks(opts.dir);
    const record = opts.record === true;
    let names: Map<number, string> | undefined;
    const images = this.tasks.map((t) => {
      const areas = lazyAreas(t);
      const flat = new BigUint64Array(areas.length * 3);
      areas.forEach((a, i) => {
        flat[i * 3] = BigInt(a.start);
        flat[i * 3 + 1] = BigInt(a.nrPages);
        flat[i * 3 + 2] = BigInt(a.fileOffset);
      });
      const first = opts.first?.get(t.pid) ?? [];
      const task = { pid: t.pid, pagesPath: t.pagesPath, areas: flat, first: BigUint64Array.from(first, (p) => BigInt(p)) };
      if (!opts.policy) return task;
      names ??= readFileNames(opts.dir);
      const p = planTask(opts.policy, t, areas, names, readMmLayout(opts.dir, t.pid), statSync(t.pagesPath).size, opts.prefetch ?? 15);
      this.plans.push({ pid: t.pid, pages: p.pages });
      return { ...task, plan: p.plan, ahead: p.ahead };
    });
    this.socketPath = join(opts.socketDir ?? opts.dir, SOCKET_NAME);
    const addon = loadNative() as { LazyPages?: LazyPagesCtor };
    if (!addon.LazyPages) throw new RuntimeError('FAULTC_NATIVE', 'the native addon has no lazy-pages daemon (rebuild native/)');
    this.native = new addon.LazyPages(
      {
        sockPath: this.socketPath,
        prefetch: opts.prefetch ?? 15,
        batch: opts.batch ?? 512,
        threads: opts.threads ?? 0,
        background: opts.background !== false,
        record,
        recordMs: opts.recordMs ?? 0,
        acceptTimeoutMs: opts.acceptTimeoutMs ?? 0,
      },
      images,
    );
  }

  /** Serves one restore until every task's pages are in place (or it exits). */
  async run(): Promise<LazyReport> {
    this.startedAt = performance.now();
    try {
      await this.native.run();
    } finally {
      this.last = this.native.report();
    }
    return this.report();
  }

  stop(): void {
    this.native.stop();
  }

  /** Ends the recording now: what comes later is served as without --record (prefetch, background copy). */
  stopRecording(): void {
    this.native.stopRecording();
  }

  report(): LazyReport {
    const r = this.last ?? this.native.report();
    return {
      ...(this.opts.policy ? { plan: this.plans } : {}),
      elapsedMs: Math.round((performance.now() - this.startedAt) * 100) / 100,
      restoredMs: r.restoredNs ? ms(r.restoredNs) : null,
      tasks: r.tasks.map((t) => ({
        pid: t.pid,
        parentPid: t.parentPid,
        totalPages: t.totalPages,
        demandFaults: t.demandFaults,
        pagesDemand: t.pagesDemand,
        pagesPrefetch: t.pagesPrefetch,
        pagesBackground: t.pagesBackground,
        pagesEarly: t.pagesEarly,
        pagesZero: t.pagesZero,
        pagesDropped: t.pagesDropped,
        pagesRaced: t.pagesRaced,
        errors: t.errors,
        adoptMs: ms(t.adoptNs),
        firstFaultMs: t.firstFaultNs ? ms(t.firstFaultNs) : null,
        doneMs: t.doneNs ? ms(t.doneNs) : null,
        gone: t.gone,
      })),
      errors: r.errors.map((e) => ({ pid: e.pid, address: '0x' + e.address.toString(16), code: e.code, message: e.message })),
    };
  }

  workingSet(): CriuWorkingSet {
    return workingSetOf((this.last ?? this.native.report()).tasks);
  }

  close(): void {
    this.native.close();
  }
}
