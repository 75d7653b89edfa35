// What an engine must know about a region's rules before its first fault,
// read from the checked IR: whether it has `on write` rules (first writes
// must be seen), whether any path hands the fault to user space (`defer`),
// and whether every missing page is a source's own page at the same offset
// (then the kernel engine maps the source itself: zero-copy), and whether it
// prefetches whole 2 MiB blocks (then the kernel engine asks for huge pages).
import type { RegionIR, Stmt } from './ir.js';
import { PAGE_SIZE } from '../base/limits.js';

/** Pages in a PMD-mapped huge page (2 MiB on x86-64). */
export const HUGE_BLOCK_PAGES = (2 * 1024 * 1024) / PAGE_SIZE;

/** Whether the region has `on write` rules, so that first writes must be seen. */
export function tracksWrites(region: RegionIR | undefined): boolean {
  return (region?.onWrite?.length ?? 0) > 0;
}

/** Whether any path of these rules ends in `defer`. */
export function rulesDefer(stmts: readonly Stmt[] | undefined): boolean {
  return (stmts ?? []).some((s) => s.kind === 'defer' || (s.kind === 'if' && (rulesDefer(s.then) || rulesDefer(s.else))));
}

/**
 * The source a region may be mapped from for zero-copy: its missing-page
 * rules are one unconditional `copy <source> at offset` (prefetch and notify
 * beside it), and it has no `on write` rules. Then every page the program
 * copies is the file's own page at that offset, which the kernel maps from
 * the page cache instead of copying. Otherwise null (anonymous memory).
 */
export function zeroCopySource(region: RegionIR | undefined): number | null {
  if (!region || tracksWrites(region)) return null;
  const rules = region.onMissing ?? [];
  if (rules.some((s) => s.kind !== 'copy' && s.kind !== 'prefetch' && s.kind !== 'notify')) return null;
  const copies = rules.filter((s): s is Extract<Stmt, { kind: 'copy' }> => s.kind === 'copy');
  const only = copies.length === 1 ? copies[0] : undefined;
  return only && only.at.kind === 'var' && only.at.name === 'offset' ? only.source : null;
}

/**
 * Whether some path of the region's missing-page rules prefetches the aligned
 * block of 2 MiB or more that holds the page (`prefetch block 2 MiB`): the
 * kernel engine then maps the region 2 MiB-aligned with MADV_HUGEPAGE, so the
 * hook can install such a block as one PMD-mapped huge page.
 */
export function hugeBlocks(region: RegionIR | undefined): boolean {
  const walk = (stmts: readonly Stmt[] | undefined): boolean =>
    (stmts ?? []).some(
      (s) => (s.kind === 'prefetch' && s.direction === 'block' && s.pages >= HUGE_BLOCK_PAGES) || (s.kind === 'if' && (walk(s.then) || walk(s.else))),
    );
  return walk(region?.onMissing);
}
