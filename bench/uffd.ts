// bench section `uffd`: first-touch cost of pages resolved by the userfaultfd
// engine (zero, copy, copy + prefetch 15 on a sequential read: copied, and
// mapped from a source on tmpfs), 1 and 2
// faulting native threads, as ratios to native anonymous first touch (write:
// the kernel's own zero fill). Each repetition measures the native baseline
// right before the case, and the figure is the median of those paired
// ratios, so a busy machine's drift hits both sides alike.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadPolicy } from '../runtime/index.js';
import type { EngineOptions } from '../runtime/engines/types.js';
import { onTmpfs } from '../runtime/proc/tmpfs.js';
import { touchAnonymous } from '../runtime/engines/uffd.js';
import { median, type Access, type BenchContext, type BenchRow, type BenchSection } from './section.js';

interface Case {
  name: string;
  policy: string;
  access: Access;
  /** Target ratio to native anonymous write first touch, when the project sets one. */
  maxRatio?: number;
  /** Engine options other than the defaults, for the rows that show what a default buys. */
  options?: EngineOptions;
  /** The heap image is read from a copy on tmpfs (zero-copy: mapped, not copied). */
  tmpfsSource?: boolean;
}

const CASES: Case[] = [
  { name: 'uffd zero', policy: 'zero.pfp', access: 'write' },
  { name: 'uffd copy', policy: 'copy.pfp', access: 'write', maxRatio: 6 },
  { name: 'uffd copy + prefetch 15, sequential read', policy: 'copy-prefetch.pfp', access: 'read', maxRatio: 1, options: { zeroCopy: false } },
  // The same policy over a source on tmpfs: the pages are the source's own
  // page-cache pages (UFFDIO_CONTINUE), copied only when written.
  { name: 'uffd copy + prefetch 15, sequential read, zero-copy from tmpfs', policy: 'copy-prefetch.pfp', access: 'read', maxRatio: 1, tmpfsSource: true },
  // What the defaults buy: shared handlers instead of per-CPU ones, the same
  // copy with a single handler thread, with handlers left where the
  // scheduler puts them, and without the CPU wake-up latency request
  // (docs/uffd-engine.md).
  { name: 'uffd zero, shared handlers', policy: 'zero.pfp', access: 'write', options: { perCpuHandlers: false } },
  { name: 'uffd copy, shared handlers', policy: 'copy.pfp', access: 'write', options: { perCpuHandlers: false } },
  { name: 'uffd copy, 1 handler thread', policy: 'copy.pfp', access: 'write', options: { handlerThreads: 1 } },
  { name: 'uffd copy, handlers not following', policy: 'copy.pfp', access: 'write', options: { followFaultingThreads: false } },
  { name: 'uffd copy, no CPU latency request', policy: 'copy.pfp', access: 'write', options: { cpuLatencyRequest: false } },
];

/** A copy of the heap image on tmpfs, or null (with why) when /dev/shm is not tmpfs. */
function tmpfsImage(root: string): { path: string; dir: string } | { why: string } {
  if (!existsSync('/dev/shm')) return { why: 'no /dev/shm' };
  if (!onTmpfs('/dev/shm')) return { why: '/dev/shm is not tmpfs' };
  const dir = mkdtempSync('/dev/shm/faultc-bench-');
  const path = join(dir, 'heap.img');
  copyFileSync(join(root, 'examples', 'heap.img'), path);
  return { path, dir };
}

async function measure(ctx: BenchContext, c: Case, threads: number, image?: string): Promise<{ ns: number; ratio: number }> {
  const path = join(ctx.root, 'bench', 'policies', c.policy);
  const order = Uint32Array.from({ length: ctx.pages }, (_, i) => i);
  const ns: number[] = [];
  const ratios: number[] = [];
  for (let rep = 0; rep < ctx.reps; rep++) {
    const native = (await touchAnonymous(ctx.pages, threads, true)).ns / ctx.pages;
    const policy = await loadPolicy(path, { engine: 'uffd', ...c.options, ...(image ? { sources: { image } } : {}) });
    try {
      const r = policy.region('r');
      const t = await r.touch(order, { threads, write: c.access === 'write', value: 1 });
      ns.push(t.ns / ctx.pages);
      ratios.push(t.ns / ctx.pages / native);
    } finally {
      await policy.close();
    }
  }
  return { ns: median(ns), ratio: median(ratios) };
}

export const section: BenchSection = {
  name: 'uffd',
  async unavailable() {
    if (process.getuid?.() !== 0) return 'needs root (userfaultfd for all faults needs CAP_SYS_PTRACE)';
    return null;
  },
  async run(ctx) {
    // Keep the image in the page cache: the figures are fault costs, not disk reads.
    readFileSync(join(ctx.root, 'examples', 'heap.img'));
    const tmpfs = tmpfsImage(ctx.root);
    const rows: BenchRow[] = [];
    try {
      for (const threads of [1, 2]) {
        for (const c of CASES) {
          if (c.tmpfsSource && 'why' in tmpfs) {
            ctx.log(`  ${c.name}: skipped (${tmpfs.why})`);
            continue;
          }
          const m = await measure(ctx, c, threads, c.tmpfsSource && 'path' in tmpfs ? tmpfs.path : undefined);
          const row: BenchRow = { section: 'uffd', name: c.name, threads, access: c.access, nsPerPage: m.ns, ratio: m.ratio };
          if (c.maxRatio !== undefined) row.target = { maxRatio: c.maxRatio, met: m.ratio <= c.maxRatio };
          rows.push(row);
          ctx.log(`  ${c.name}, ${threads} thread${threads > 1 ? 's' : ''}: ${m.ns.toFixed(0)} ns/page, ${m.ratio.toFixed(2)}x`);
        }
      }
    } finally {
      if ('dir' in tmpfs) rmSync(tmpfs.dir, { recursive: true, force: true });
    }
    return rows;
  },
};
