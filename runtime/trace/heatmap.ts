// Renders a page-access heatmap as SVG: time across, page offset down, one
// panel per region; a cell's shade is the number of faults it holds.
// A pure function of its input, so the same trace always draws the same file.

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
}

/** Above this a region is drawn by touched-page rank, not by offset. */
const MAX_LINEAR_SIZE = 64n << 30n;

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

const MARGIN_LEFT = 110;
const MARGIN_RIGHT = 20;
const MARGIN_TOP = 34;
const PANEL_GAP = 46;
const MARGIN_BOTTOM = 40;

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);
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

function formatTime(ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(1)} ms`;
  return `${(ns / 1e3).toFixed(0)} µs`;
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

export function renderHeatmap(points: HeatmapPoint[], regions: HeatmapRegion[], opts: HeatmapOptions = {}): string {
  const layout = heatmapLayout(regions, opts);
  const columns = Math.max(1, Math.floor(opts.columns ?? 200));
  const rows = Math.max(1, Math.floor(opts.rows ?? 120));
  let tMax = 0;
  for (const p of points) if (p.time > tMax) tMax = p.time;
  const tSpan = Math.max(1, tMax);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${layout.width}" height="${layout.height}" viewBox="0 0 ${layout.width} ${layout.height}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect x="0" y="0" width="${layout.width}" height="${layout.height}" fill="#ffffff"/>`);
  out.push(`<text x="${MARGIN_LEFT}" y="20" font-size="14">${escapeXml(opts.title ?? 'page faults: offset × time')}</text>`);

  regions.forEach((region, i) => {
    const panel = layout.panels[i]!;
    const mine = points.filter((p) => p.region === region.index);
    const linear = region.size !== undefined && region.size > 0n && region.size <= MAX_LINEAR_SIZE;
    // Sparse axis: each distinct touched page gets the next position, in address order.
    const rank = new Map<bigint, bigint>();
    if (!linear) {
      const pages = [...new Set(mine.map((p) => p.offset / 4096n))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      pages.forEach((pg, i) => rank.set(pg, BigInt(i)));
    }
    const size = linear ? region.size! : BigInt(Math.max(1, rank.size)) * 4096n;
    const grid = new Map<number, number>();
    let maxCell = 0;
    for (const p of mine) {
      const col = Math.min(columns - 1, Math.floor((p.time / tSpan) * columns));
      const y = linear ? p.offset : rank.get(p.offset / 4096n)! * 4096n;
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
    out.push(`<rect x="${panel.x}" y="${panel.y}" width="${panel.width}" height="${panel.height}" fill="#f4f4f8" stroke="#888888"/>`);
    const keys = [...grid.keys()].sort((a, b) => a - b);
    for (const key of keys) {
      const row = Math.floor(key / columns);
      const col = key % columns;
      const count = grid.get(key)!;
      // Log shading: a cell with one fault is still visible next to a busy one.
      const level = Math.log1p(count) / Math.log1p(maxCell);
      const light = Math.round(85 - 60 * level);
      out.push(
        `<rect class="cell" x="${(panel.x + col * cw).toFixed(2)}" y="${(panel.y + row * ch).toFixed(2)}" width="${cw.toFixed(2)}" height="${ch.toFixed(2)}" fill="hsl(10,85%,${light}%)"><title>${count} faults</title></rect>`,
      );
    }
    out.push(`<text x="${panel.x}" y="${panel.y - 6}" font-size="12">${escapeXml(region.name)} (${mine.length} faults)</text>`);
    out.push(`<text x="${panel.x - 6}" y="${panel.y + 10}" text-anchor="end">0</text>`);
    out.push(
      `<text x="${panel.x - 6}" y="${panel.y + panel.height}" text-anchor="end">${escapeXml(linear ? formatBytes(size) : `${rank.size} pages`)}</text>`,
    );
    out.push(
      `<text x="${panel.x - 6}" y="${panel.y + panel.height / 2}" text-anchor="end">${linear ? 'offset' : 'touched pages'}</text>`,
    );
    out.push(`<text x="${panel.x}" y="${panel.y + panel.height + 14}">0</text>`);
    out.push(
      `<text x="${panel.x + panel.width}" y="${panel.y + panel.height + 14}" text-anchor="end">${escapeXml(formatTime(tSpan))}</text>`,
    );
    out.push('</g>');
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
