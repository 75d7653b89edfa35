// Regions of a process image (`region <id> in <image> "[heap]" { ... }`,
// docs/criu.md): `in` names a `criu` source, the selector a kind of area, and
// the rules use only what is known before the restored process runs, since
// faultc lazy-pages plans every page when it loads the images.
import type { RegionAst } from '../grammar/ast.js';
import { diag } from '../base/codes.js';
import type { Diagnostic } from '../base/diagnostic.js';
import { suggesting } from '../base/suggest.js';
import type { Expr, ImageSelect, RegionIR } from './ir.js';
import { walk } from './engines.js';
import type { RegionLayout } from './layout.js';
import type { ExprContext } from './lower-expr.js';

const WORDS = ['anonymous'];

/** What `in <source> <what>` takes, or undefined after reporting why not. */
export function imageOf(r: RegionAst, layout: RegionLayout | undefined, ctx: ExprContext): RegionIR['image'] | undefined {
  const img = r.image!;
  const region = r.name.name;
  const out = ctx.out;
  const b = ctx.scope.names.get(img.source.name);
  let source = -1;
  if (b === undefined) {
    ctx.unknownNames.add(img.source.name);
    const criu = ctx.scope.sources.filter((s) => s.kind.name === 'criu').map((s) => s.name.name);
    out.push(suggesting(diag('unknownSource', img.source.span, { name: img.source.name, policy: ctx.scope.ast.name.name }), img.source.name, criu));
  } else if (b.kind !== 'source' || b.ast.kind.name !== 'criu') {
    out.push(diag('imageNotCriu', img.source.span, { region, name: img.source.name }));
  } else {
    source = b.index;
    ctx.usedSources.add(b.index);
  }
  let select: ImageSelect | undefined;
  if (img.name) {
    const v = img.name.value;
    if (v === '[heap]') select = { kind: 'heap' };
    else if (v === '[stack]') select = { kind: 'stack' };
    else if (v.startsWith('/') && !v.includes('\0')) select = { kind: 'file', path: v };
    else out.push(diag('imageSelectUnknown', img.name.span, { region, what: JSON.stringify(v) }));
  } else if (img.word) {
    if (img.word.name === 'anonymous') select = { kind: 'anonymous' };
    else out.push(suggesting(diag('imageSelectUnknown', img.word.span, { region, what: '`' + img.word.name + '`' }), img.word.name, WORDS));
  } else if (layout?.at !== undefined) {
    select = { kind: 'range', start: layout.at, size: layout.size };
  }
  return source >= 0 && select ? { source, select } : undefined;
}

function* exprs(e: Expr): Generator<Expr> {
  yield e;
  if (e.kind === 'binary') {
    yield* exprs(e.left);
    yield* exprs(e.right);
  } else if (e.kind === 'not') yield* exprs(e.operand);
  else if (e.kind === 'inSet') yield* exprs(e.page);
}

/** The rules of an image region: planned ahead, copying only from their image. */
function checkImageRules(ir: RegionIR, image: number, ctx: ExprContext, writeHead: RegionAst['span'] | undefined): void {
  const out = ctx.out;
  const region = ir.id;
  const imageName = ctx.scope.sources[image]!.name.name;
  if (writeHead) out.push(diag('imageUnsupported', writeHead, { statement: '`on write`' }));
  for (const s of walk(ir.onMissing ?? [])) {
    const tested = s.kind === 'if' ? s.cond : s.kind === 'copy' ? s.at : undefined;
    for (const e of tested ? exprs(tested) : []) {
      if (e.kind === 'var' && (e.name === 'read' || e.name === 'write')) out.push(diag('imageRuleRunTime', e.span, { region, what: '`' + e.name + '`' }));
      if (e.kind === 'inSet') out.push(diag('imageRuleRunTime', e.span, { region, what: 'a run-time set' }));
    }
    if (s.kind === 'copy' && s.source >= 0 && s.source !== image) {
      out.push(diag('imageCopyOther', s.span, { region, image: imageName, name: ctx.scope.sources[s.source]!.name.name }));
    }
    if (s.kind === 'defer') out.push(diag('imageUnsupported', s.span, { statement: '`defer`' }));
    if (s.kind === 'prefetch' && s.direction !== 'ahead') {
      out.push(diag('imageUnsupported', s.span, { statement: s.direction === 'block' ? '`prefetch block`' : '`prefetch ' + s.direction + '`' }));
    }
    if (s.kind === 'notify') out.push(diag('imageNotify', s.span, { region }));
  }
}

/** A region of its own size must not copy from a process image. */
function checkPlainRules(ir: RegionIR, ctx: ExprContext): void {
  for (const s of walk(ir.onMissing ?? [])) {
    const src = s.kind === 'copy' && s.source >= 0 ? ctx.scope.sources[s.source] : undefined;
    if (src?.kind.name === 'criu') ctx.out.push(diag('criuCopyOutside', s.span, { name: src.name.name }));
  }
}

/** Checks of a policy's regions that concern images; after the handlers were lowered. */
export function checkImagePolicy(regions: { ast: RegionAst; ir: RegionIR; writeHead?: RegionAst['span'] }[], ctx: ExprContext, out: Diagnostic[]): void {
  const taken = regions.filter((r) => r.ast.image);
  const plain = regions.filter((r) => !r.ast.image);
  if (taken.length > 0 && plain.length > 0) {
    out.push(diag('mixedImageRegions', plain[0]!.ast.name.span, { policy: ctx.scope.ast.name.name }));
  }
  for (const r of taken) if (r.ir.image) checkImageRules(r.ir, r.ir.image.source, ctx, r.writeHead);
  for (const r of plain) checkPlainRules(r.ir, ctx);
}
