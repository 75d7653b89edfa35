// A policy over a CRIU image, planned ahead (docs/criu.md, "Policies"): every
// lazy page of a task is given to the first region that takes it and run
// through the reference evaluator once, when the images are read; the native
// daemon then follows the plan (one entry per lazy page: the pages-image
// offset to copy from, zero, a fill byte or sigbus, and the pages to copy
// after it on a fault). Pages no region takes are copied from their own
// image page with the daemon's prefetch, as without a policy.
import { evaluate } from '../../compiler/evaluate.js';
import type { ImageSelect, PolicyIR, RegionIR } from '../../compiler/ir.js';
import { PAGE_SIZE, VMA_ANON_PRIVATE, VMA_AREA_HEAP, VMA_AREA_STACK, type LazyArea, type MmLayout, type TaskImages, type Vma } from './images.js';

export const PLAN_ZERO = -1n;
export const PLAN_SIGBUS = -2n;
export const planFill = (b: number): bigint => -0x100n - BigInt(b);

export interface TaskPlan {
  plan: BigInt64Array;
  ahead: Uint16Array;
  /** Lazy pages per region id, and those no region takes (`""`). */
  pages: Record<string, number>;
}

/**
 * Whether a region takes the page at addr of vma. "[heap]": CRIU's heap mark
 * or the brk range of mm-<pid>.img; "[stack]": the area holding the stack's
 * start (CRIU marks no stack).
 */
function takes(sel: ImageSelect, vma: Vma, addr: number, names: Map<number, string>, mm: MmLayout): boolean {
  switch (sel.kind) {
    case 'heap':
      return (vma.status & VMA_AREA_HEAP) !== 0 || (vma.start < mm.brk && vma.end > mm.startBrk);
    case 'stack':
      return (vma.status & VMA_AREA_STACK) !== 0 || (mm.startStack >= vma.start && mm.startStack < vma.end);
    case 'file':
      return vma.shmid !== 0 && names.get(vma.shmid) === sel.path;
    case 'anonymous':
      return (vma.status & VMA_ANON_PRIVATE) !== 0;
    case 'range':
      return BigInt(addr) >= sel.start && BigInt(addr) < sel.start + sel.size;
  }
}

/** Where the pages image holds the page at image address addr: its offset, or undefined. */
function imageOffsets(task: TaskImages): (addr: number) => number | undefined {
  const entries = task.pagemap.entries.filter((e) => e.fileOffset >= 0).sort((a, b) => a.vaddr - b.vaddr);
  return (addr) => {
    let lo = 0;
    let hi = entries.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const e = entries[mid]!;
      if (addr < e.vaddr) hi = mid - 1;
      else if (addr >= e.vaddr + e.nrPages * PAGE_SIZE) lo = mid + 1;
      else return e.fileOffset + (addr - e.vaddr);
    }
    return undefined;
  };
}

/**
 * The plan of one task: areas are its lazy areas in image order (the native
 * daemon's page numbering). defaultAhead: the daemon's prefetch.
 */
export function planTask(policy: PolicyIR, task: TaskImages, areas: LazyArea[], names: Map<number, string>, mm: MmLayout, pagesSize: number, defaultAhead: number): TaskPlan {
  const total = areas.reduce((n, a) => n + a.nrPages, 0);
  const plan = new BigInt64Array(total);
  const ahead = new Uint16Array(total);
  const pages: Record<string, number> = { '': 0 };
  const regions = policy.regions.filter((r): r is RegionIR & { image: NonNullable<RegionIR['image']> } => r.image !== undefined);
  for (const r of regions) pages[r.id] = 0;
  const sourceSizes = policy.sources.map((s) => (s.kind === 'criu' ? BigInt(pagesSize) : 0n));
  const vmas = [...task.vmas].sort((a, b) => a.start - b.start);
  // A region's offset runs through its areas in address order.
  const base = new Map<RegionIR, Map<Vma, number>>();
  for (const r of regions) {
    if (r.image.select.kind === 'range') continue;
    let at = 0;
    const m = new Map<Vma, number>();
    for (const v of vmas) {
      if (!takes(r.image.select, v, v.start, names, mm)) continue;
      m.set(v, at);
      at += v.end - v.start;
    }
    base.set(r, m);
  }
  const offsetOf = imageOffsets(task);
  const inVma = (addr: number): boolean => vmas.some((v) => addr >= v.start && addr < v.end);
  let idx = 0;
  for (const a of areas) {
    for (let i = 0; i < a.nrPages; i++, idx++) {
      const addr = a.start + i * PAGE_SIZE;
      const own = a.fileOffset + i * PAGE_SIZE;
      const r = regions.find((x) => takes(x.image.select, a.vma, addr, names, mm));
      if (!r) {
        plan[idx] = BigInt(own);
        ahead[idx] = defaultAhead;
        pages['']!++;
        continue;
      }
      pages[r.id]!++;
      const sel = r.image.select;
      const offset = sel.kind === 'range' ? BigInt(addr) - sel.start : BigInt(base.get(r)!.get(a.vma)! + (addr - a.vma.start));
      const d = evaluate(policy, { region: r.index, handler: 'missing', offset, address: BigInt(addr), write: false, sourceSizes });
      ahead[idx] = d.prefetch && d.action === 'copy' ? d.prefetch.pages : 0;
      if (d.error || d.action === 'sigbus') plan[idx] = PLAN_SIGBUS;
      else if (d.action === 'zero') plan[idx] = PLAN_ZERO;
      else if (d.action === 'fill') plan[idx] = planFill(d.fillByte ?? 0);
      else if (d.action === 'copy') {
        const from = d.sourceOffset ?? BigInt(addr);
        const off = from <= BigInt(Number.MAX_SAFE_INTEGER) ? offsetOf(Number(from)) : undefined;
        // Not in the image: zeros inside one of its areas (a page never touched), else past it.
        plan[idx] = off !== undefined ? BigInt(off) : inVma(Number(from)) ? PLAN_ZERO : PLAN_SIGBUS;
      } else plan[idx] = PLAN_ZERO; // a region without `on missing`: the language's default
    }
  }
  return { plan, ahead, pages };
}

/** The one policy of a file that takes its regions from an image. */
export function imagePolicy(policies: PolicyIR[]): PolicyIR | string {
  const withImage = policies.filter((p) => p.regions.some((r) => r.image));
  if (withImage.length === 1) return withImage[0]!;
  if (withImage.length === 0) return 'the file has no policy with regions taken from a criu source (region <id> in <image> ...)';
  return `the file has ${withImage.length} policies over images (${withImage.map((p) => p.name).join(', ')}); keep one per file`;
}
