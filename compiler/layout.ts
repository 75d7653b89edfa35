// Region sizes and fixed addresses: constants, whole pages, inside the 47-bit
// user address space, and no two fixed regions of one policy overlapping.
import type { RegionAst } from '../grammar/ast.js';
import { diag } from '../base/codes.js';
import type { Diagnostic } from '../base/diagnostic.js';
import { constantValue, fold } from './fold.js';
import { PAGE_SIZE } from '../base/limits.js';
import { MIN_MAP_ADDRESS, USER_SPACE_END } from '../base/limits.js';
import { lowerExpr, type ExprContext } from './lower-expr.js';

export interface RegionLayout {
  size: bigint;
  at?: bigint;
}

const PAGE = BigInt(PAGE_SIZE);

function hex(v: bigint): string {
  return '0x' + v.toString(16);
}

/** Layouts of the regions, in order; a region missing from the map failed a check. */
export function layoutRegions(regions: RegionAst[], ctx: ExprContext): Map<RegionAst, RegionLayout> {
  const out = ctx.out;
  const layouts = new Map<RegionAst, RegionLayout>();
  for (const r of regions) {
    const name = r.name.name;
    // Sized by its image when the policy is loaded (an address range has its size here).
    if (!r.size) continue;
    const size = constantOf(r.size, { ...ctx, constantFor: 'size' });
    let ok = size !== undefined;
    if (size !== undefined) {
      if (size === 0n) {
        out.push(diag('regionSizeZero', r.size.span, { region: name }));
        ok = false;
      } else if (size % PAGE !== 0n) {
        const below = (size / PAGE) * PAGE;
        const hint = below === 0n ? 'a page is 4 KiB: the smallest region is 1 page (4096 bytes)' : undefined;
        out.push(diag('regionSizeNotPages', r.size.span, { region: name, size, below, above: below + PAGE }, hint));
        ok = false;
      } else if (size > USER_SPACE_END) {
        out.push(diag('regionTooLarge', r.size.span, { region: name, size: hex(size) }));
        ok = false;
      }
    }
    let at: bigint | undefined;
    if (r.at) {
      at = constantOf(r.at, { ...ctx, constantFor: 'address' });
      if (at === undefined) ok = false;
      else if (at % PAGE !== 0n) {
        out.push(diag('addressNotAligned', r.at.span, { region: name, address: hex(at) }));
        ok = false;
      } else if (size !== undefined && at + size > USER_SPACE_END) {
        out.push(diag('outsideUserSpace', r.at.span, { region: name, end: hex(at + size) }));
        ok = false;
      } else if (at < MIN_MAP_ADDRESS) {
        out.push(diag('belowMinAddress', r.at.span, { region: name, address: hex(at) }));
      }
    }
    if (!ok || size === undefined) {
      ctx.badRegions.add(name);
      continue;
    }
    ctx.regionSizes.set(name, size);
    layouts.set(r, at === undefined ? { size } : { size, at });
  }
  reportOverlaps(regions, layouts, out);
  return layouts;
}

function constantOf(e: NonNullable<RegionAst['size']>, ctx: ExprContext): bigint | undefined {
  const before = ctx.out.length;
  const lowered = lowerExpr(e, ctx);
  const folded = lowered === undefined ? undefined : fold(lowered, ctx.out);
  const value = constantValue(folded);
  if (folded !== undefined && value === undefined && ctx.out.length === before) {
    ctx.out.push(diag('notConstant', e.span, { what: ctx.constantFor ?? 'size' }));
  }
  return value;
}

function reportOverlaps(regions: RegionAst[], layouts: Map<RegionAst, RegionLayout>, out: Diagnostic[]): void {
  const fixed = regions
    .map((r, order) => ({ r, order, l: layouts.get(r) }))
    .filter((x): x is { r: RegionAst; order: number; l: { size: bigint; at: bigint } } => x.l?.at !== undefined)
    .sort((a, b) => (a.l.at < b.l.at ? -1 : a.l.at > b.l.at ? 1 : a.order - b.order));
  let reach: (typeof fixed)[number] | undefined;
  for (const cur of fixed) {
    if (reach && cur.l.at < reach.l.at + reach.l.size) {
      // Report on whichever of the two is declared later, naming the earlier one.
      const [later, earlier] = cur.order > reach.order ? [cur, reach] : [reach, cur];
      out.push(
        diag('overlappingRegions', later.r.name.span, {
          region: later.r.name.name,
          start: hex(later.l.at),
          end: hex(later.l.at + later.l.size),
          other: earlier.r.name.name,
          otherStart: hex(earlier.l.at),
          otherEnd: hex(earlier.l.at + earlier.l.size),
          line: earlier.r.name.span.startLine,
        }),
      );
    }
    if (!reach || cur.l.at + cur.l.size > reach.l.at + reach.l.size) reach = cur;
  }
}
