// Renders a page-access heatmap as SVG: time across (from the first fault),
// page offset down, one panel per region; a cell's shade is the number of
// faults it holds, read off the legend beside each panel. Regions too large to
// draw by offset (the whole process) are drawn by touched page, labelled with
// addresses. A pure function of its input: the same trace draws the same file.

export interface HeatmapPoint {
  /** Nanoseconds since the trace began. */
  time: number;
  /** Byte offset of the page in its region. */
  offset: bigint;
  region: number;
}

export interface HeatmapRegion {
  index: number;
  name: string;
  /**
   * Bytes. When unknown or too large to draw as one axis (the whole address
   * space), the vertical axis is instead the touched pages in address order,
   * gaps removed.
   */
  size?: bigint;
  /** Address of offset 0, when known: the touched-page axis is labelled with addresses. */
  start?: bigint;
}

/** Above this a region is drawn by touched-page rank, not by offset. */
const MAX_LINEAR_SIZE = 64n << 30n;
const PAGE = 4096n;

export interface HeatmapOptions {
  /** Width of the plot area in pixels (default 800). */
  width?: number;
  /** Height of each region's plot area in pixels (default 240). */
  panelHeight?: number;
  /** Cells across and down (default 200 x 120). */
  columns?: number;
  rows?: number;
  title?: string;
}

export interface HeatmapLayout {
  width: number;
  height: number;
  panels: { region: number; x: number; y: number; width: number; height: number }[];
}

// Room around the panels: tick labels (addresses need ~90 px) and the axis
// title on the left, the legend on the right, the title and each panel's label
// above, the time ticks and the time axis title below.
const MARGIN_LEFT = 124;
const MARGIN_RIGHT = 96;
const MARGIN_TOP = 56;
const PANEL_GAP = 76;
const MARGIN_BOTTOM = 46;
/** A generous width of one character of the sans-serif font, per pixel of font size. */
const CHAR_WIDTH = 0.62;
const LEGEND_STEPS = 8;

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** `s` cut to fit `px` pixels at `fontSize`, with an ellipsis when cut. */
function fit(s: string, px: number, fontSize: number): string {
  const max = Math.max(1, Math.floor(px / (fontSize * CHAR_WIDTH)));
  return s.length <= max ? s : s.slice(0, max - 1) + '…';
}

function formatBytes(n: bigint): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}

/** Tick values from 0 to `span` (inclusive when it falls on a tick) at a 1-2-5 step, about `want` of them. */
function niceTicks(span: number, want: number): number[] {
  if (span <= 0) return [0];
  const raw = span / want;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const steps = [0.5, 1, 2, 5, 10].map((m) => m * mag);
  let i = steps.findIndex((s) => s >= raw);
  // A step of 2.5 raw leaves three ticks: the next smaller step keeps at least four.
  if (span / steps[i]! < 3) i -= 1;
  const step = steps[i]!;
  const out: number[] = [];
  for (let v = 0; v <= span * (1 + 1e-9); v += step) out.push(v);
  return out;
}

/** A time tick's label in one unit for the whole axis, chosen by the span. */
function timeUnit(spanNs: number): { div: number; unit: string } {
  if (spanNs >= 2e9) return { div: 1e9, unit: 's' };
  if (spanNs >= 2e6) return { div: 1e6, unit: 'ms' };
  if (spanNs >= 2e3) return { div: 1e3, unit: 'µs' };
  return { div: 1, unit: 'ns' };
}

function trimNumber(v: number): string {
  return String(Number(v.toPrecision(6)));
}

/** Byte ticks from 0 to `size` at a power-of-two step: 3 to 7 of them. */
function byteTicks(size: bigint): bigint[] {
  let step = 1n;
  while (step * 6n < size) step *= 2n;
  const out: bigint[] = [];
  for (let v = 0n; v <= size; v += step) out.push(v);
  return out;
}

/** Where everything goes, for the renderer and for tests. */
export function heatmapLayout(regions: HeatmapRegion[], opts: HeatmapOptions = {}): HeatmapLayout {
  const width = opts.width ?? 800;
  const panelHeight = opts.panelHeight ?? 240;
  const panels = regions.map((r, i) => ({
    region: r.index,
    x: MARGIN_LEFT,
    y: MARGIN_TOP + i * (panelHeight + PANEL_GAP),
    width,
    height: panelHeight,
  }));
  const n = Math.max(1, regions.length);
  return {
    width: MARGIN_LEFT + width + MARGIN_RIGHT,
    height: MARGIN_TOP + n * panelHeight + (n - 1) * PANEL_GAP + MARGIN_BOTTOM,
    panels,
  };
}

/** The shade of a cell: log scale, so a cell with one fault still shows beside a busy one. */
function shade(level: number): string {
  return `hsl(10,85%,${Math.round(85 - 60 * level)}%)`;
}

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}"${attrs ? ' ' + attrs : ''}>${escapeXml(s)}</text>`;
}

export function renderHeatmap(points: HeatmapPoint[], regions: HeatmapRegion[], opts: HeatmapOptions = {}): string {
  const layout = heatmapLayout(regions, opts);
  const columns = Math.max(1, Math.floor(opts.columns ?? 200));
  const rows = Math.max(1, Math.floor(opts.rows ?? 120));
  // Time runs from the first fault to the last: what came before is no access at all.
  let t0 = Infinity;
  let tMax = 0;
  for (const p of points) {
    if (p.time < t0) t0 = p.time;
    if (p.time > tMax) tMax = p.time;
  }
  if (!Number.isFinite(t0)) t0 = 0;
  const tSpan = Math.max(1, tMax - t0);
  const unit = timeUnit(tSpan);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${layout.width}" height="${layout.height}" viewBox="0 0 ${layout.width} ${layout.height}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect x="0" y="0" width="${layout.width}" height="${layout.height}" fill="#ffffff"/>`);
  const title = opts.title ?? 'page faults: offset × time';
  out.push(text(10, 20, fit(title, layout.width - 20, 14), 'class="title" font-size="14"'));

  regions.forEach((region, i) => {
    const panel = layout.panels[i]!;
    const mine = points.filter((p) => p.region === region.index);
    const linear = region.size !== undefined && region.size > 0n && region.size <= MAX_LINEAR_SIZE;
    // Sparse axis: each distinct touched page gets the next position, in address order.
    const pages = linear ? [] : [...new Set(mine.map((p) => p.offset / PAGE))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const rank = new Map<bigint, bigint>();
    for (const [k, pg] of pages.entries()) rank.set(pg, BigInt(k));
    const size = linear ? region.size! : BigInt(Math.max(1, rank.size)) * PAGE;
    const grid = new Map<number, number>();
    let maxCell = 0;
    for (const p of mine) {
      const col = Math.min(columns - 1, Math.floor(((p.time - t0) / tSpan) * columns));
      const y = linear ? p.offset : rank.get(p.offset / PAGE)! * PAGE;
      const rowBig = (y * BigInt(rows)) / size;
      const row = Number(rowBig < BigInt(rows) ? rowBig : BigInt(rows - 1));
      const key = row * columns + col;
      const c = (grid.get(key) ?? 0) + 1;
      grid.set(key, c);
      if (c > maxCell) maxCell = c;
    }
    const cw = panel.width / columns;
    const ch = panel.height / rows;
    out.push(`<g class="panel" data-region="${region.index}">`);
    out.push(`<rect class="plot" x="${panel.x}" y="${panel.y}" width="${panel.width}" height="${panel.height}" fill="#f4f4f8" stroke="#888888"/>`);
    const keys = [...grid.keys()].sort((a, b) => a - b);
    for (const key of keys) {
      const row = Math.floor(key / columns);
      const col = key % columns;
      const count = grid.get(key)!;
      const level = Math.log1p(count) / Math.log1p(maxCell);
      out.push(
        `<rect class="cell" x="${(panel.x + col * cw).toFixed(2)}" y="${(panel.y + row * ch).toFixed(2)}" width="${cw.toFixed(2)}" height="${ch.toFixed(2)}" fill="${shade(level)}"><title>${count} faults</title></rect>`,
      );
    }
    if (mine.length === 0) out.push(text(panel.x + panel.width / 2, panel.y + panel.height / 2, 'no faults', 'class="empty" text-anchor="middle" fill="#666666"'));

    const where = region.start !== undefined && linear ? ` at 0x${region.start.toString(16)}` : '';
    out.push(text(panel.x, panel.y - 8, fit(`${region.name}${where}: ${mine.length} faults`, panel.width, 12), 'class="label" font-size="12"'));

    // Vertical ticks: offsets, or the addresses of evenly spaced touched pages.
    const yTicks: { y: number; label: string }[] = [];
    if (linear) {
      for (const v of byteTicks(size)) yTicks.push({ y: panel.y + Number((v * 1_000_000n) / size) * (panel.height / 1_000_000), label: formatBytes(v) });
    } else if (pages.length > 0) {
      const k = Math.min(6, pages.length);
      const base = region.start ?? 0n;
      for (let j = 0; j < k; j++) {
        const r = k === 1 ? 0 : Math.round((j * (pages.length - 1)) / (k - 1));
        const rowY = panel.y + ((r + 0.5) / pages.length) * panel.height;
        yTicks.push({ y: rowY, label: '0x' + (base + pages[r]! * PAGE).toString(16) });
      }
    }
    for (const t of yTicks) {
      out.push(`<line class="tick-mark" x1="${panel.x - 4}" y1="${t.y.toFixed(1)}" x2="${panel.x}" y2="${t.y.toFixed(1)}" stroke="#888888"/>`);
      out.push(text(panel.x - 6, t.y + 4, t.label, 'class="tick y" text-anchor="end"'));
    }
    const yTitle = linear ? 'offset in region' : 'address (touched pages)';
    const yMid = panel.y + panel.height / 2;
    out.push(text(14, yMid, fit(yTitle, panel.height, 11), `class="axis y" text-anchor="middle" transform="rotate(-90 14 ${yMid.toFixed(1)})"`));

    // Time ticks, from the first fault.
    const ticks = niceTicks(tSpan / unit.div, 6);
    for (const v of ticks) {
      const x = panel.x + ((v * unit.div) / tSpan) * panel.width;
      const anchor = v === 0 ? 'start' : x > panel.x + panel.width - 20 ? 'end' : 'middle';
      out.push(`<line class="tick-mark" x1="${x.toFixed(1)}" y1="${panel.y + panel.height}" x2="${x.toFixed(1)}" y2="${panel.y + panel.height + 4}" stroke="#888888"/>`);
      out.push(text(x, panel.y + panel.height + 16, `${trimNumber(v)} ${unit.unit}`, `class="tick x" text-anchor="${anchor}"`));
    }
    out.push(text(panel.x + panel.width / 2, panel.y + panel.height + 32, 'time since the first fault', 'class="axis x" text-anchor="middle"'));

    // The legend: what the shades count.
    if (maxCell > 0) {
      const lx = panel.x + panel.width + 10;
      const barH = Math.min(panel.height - 40, 120);
      const low = Math.log1p(1) / Math.log1p(maxCell);
      out.push(`<g class="legend">`);
      for (let s = 0; s < LEGEND_STEPS; s++) {
        // Darkest (most faults) at the top.
        const level = 1 - (s / (LEGEND_STEPS - 1)) * (1 - low);
        const h = barH / LEGEND_STEPS;
        out.push(`<rect class="swatch" x="${lx}" y="${(panel.y + s * h).toFixed(2)}" width="12" height="${h.toFixed(2)}" fill="${shade(level)}"/>`);
      }
      out.push(text(lx + 16, panel.y + 9, String(maxCell), 'class="legend-label"'));
      if (maxCell > 1) out.push(text(lx + 16, panel.y + barH, '1', 'class="legend-label"'));
      out.push(text(lx, panel.y + barH + 16, 'faults', 'class="legend-label"'));
      out.push(text(lx, panel.y + barH + 30, 'per cell', 'class="legend-label"'));
      out.push('</g>');
    }
    out.push('</g>');
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
