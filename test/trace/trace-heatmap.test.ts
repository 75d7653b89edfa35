// The heatmap renderer: the SVG parses as XML (checked by an independent
// parser, Python's xml.etree), has the dimensions the layout promises, one
// panel per region, and cells exactly where the faults are; drawn to PNG, its
// texts do not overlap, each axis has several ticks, the legend is there.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { heatmapLayout, renderHeatmap, type HeatmapOptions, type HeatmapPoint, type HeatmapRegion } from '../../runtime/trace/heatmap.js';
import { decodePng, inkBox, type Image } from '../helpers/png.js';

interface Parsed {
  root: string;
  width: string;
  height: string;
  panels: number;
  cells: { x: number; y: number; w: number; h: number; region: string }[];
}

/** Parses with Python's XML parser: a malformed document raises there. */
function parseSvg(svg: string): Parsed {
  const script = `
import json, sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
ns = '{http://www.w3.org/2000/svg}'
cells = []
panels = root.findall(ns + 'g')
for g in panels:
    for r in g.findall(ns + 'rect'):
        if r.get('class') == 'cell':
            cells.append({'x': float(r.get('x')), 'y': float(r.get('y')), 'w': float(r.get('width')), 'h': float(r.get('height')), 'region': g.get('data-region')})
print(json.dumps({'root': root.tag, 'width': root.get('width'), 'height': root.get('height'), 'panels': len(panels), 'cells': cells}))
`;
  return JSON.parse(execFileSync('python3', ['-c', script], { input: svg, encoding: 'utf8' })) as Parsed;
}

describe('renderHeatmap', () => {
  const regions: HeatmapRegion[] = [
    { index: 0, name: 'heap <main> & "co"', size: 64n * 4096n },
    { index: 1, name: 'guard', size: 4096n },
  ];
  // A sequential sweep of region 0 over 1 s, and one touch of region 1 at the end.
  const points: HeatmapPoint[] = [];
  for (let i = 0; i < 64; i++) points.push({ time: (i * 1e9) / 63, offset: BigInt(i) * 4096n, region: 0 });
  points.push({ time: 1e9, offset: 0n, region: 1 });

  test('valid SVG with the layout dimensions and one panel per region', () => {
    const svg = renderHeatmap(points, regions, { width: 640, panelHeight: 200, columns: 64, rows: 64 });
    const parsed = parseSvg(svg);
    const layout = heatmapLayout(regions, { width: 640, panelHeight: 200 });
    expect(parsed.root).toBe('{http://www.w3.org/2000/svg}svg');
    expect(parsed.width).toBe(String(layout.width));
    expect(parsed.height).toBe(String(layout.height));
    expect(layout.width).toBe(124 + 640 + 96);
    expect(layout.height).toBe(56 + 2 * 200 + 76 + 46);
    expect(parsed.panels).toBe(2);
    expect(svg).toContain('heap &lt;main&gt; &amp; &quot;co&quot;');
  });

  test('at least four time ticks for any span (a 1-2-5 step can leave three)', () => {
    // 12.06 ms over six ticks wants a 2.01 ms step: a 5 ms step would give 0, 5, 10 only.
    for (const spanNs of [1_000, 12_060_000, 12e6, 30.06e6, 99e6, 1e9, 2.4e9, 7.3e9]) {
      const sweep: HeatmapPoint[] = [
        { time: 0, offset: 0n, region: 0 },
        { time: spanNs, offset: 4096n, region: 0 },
      ];
      const svg = renderHeatmap(sweep, regions.slice(0, 1));
      const ticks = svg.match(/class="tick x"/g) ?? [];
      expect(ticks.length, `span ${spanNs} ns`).toBeGreaterThanOrEqual(4);
      expect(ticks.length, `span ${spanNs} ns`).toBeLessThanOrEqual(12);
    }
  });

  test('a sequential sweep is a diagonal of cells; cells stay inside their panel', () => {
    const svg = renderHeatmap(points, regions, { width: 640, panelHeight: 200, columns: 64, rows: 64 });
    const { cells } = parseSvg(svg);
    const layout = heatmapLayout(regions, { width: 640, panelHeight: 200 });
    const heap = cells.filter((c) => c.region === '0');
    expect(heap).toHaveLength(64);
    const p0 = layout.panels[0]!;
    for (const c of heap) {
      const col = Math.round((c.x - p0.x) / c.w);
      const row = Math.round((c.y - p0.y) / c.h);
      expect(col).toBe(row); // time and offset grow together
      expect(c.x + c.w).toBeLessThanOrEqual(p0.x + p0.width + 0.01);
      expect(c.y + c.h).toBeLessThanOrEqual(p0.y + p0.height + 0.01);
    }
    const guard = cells.filter((c) => c.region === '1');
    expect(guard).toHaveLength(1);
    const p1 = layout.panels[1]!;
    expect(guard[0]!.y).toBeGreaterThanOrEqual(p1.y);
  });

  test('a region too large to draw by offset is drawn by touched-page rank, gaps removed', () => {
    // Three clusters of 10 pages terabytes apart in the whole address space.
    const far: HeatmapPoint[] = [];
    for (const base of [0x1000_0000n, 0x5500_0000_0000n, 0x7fff_0000_0000n]) {
      for (let i = 0n; i < 10n; i++) far.push({ time: far.length, offset: base + i * 4096n, region: 0 });
    }
    const svg = renderHeatmap(far, [{ index: 0, name: 'all', size: 1n << 56n }], { columns: 30, rows: 30 });
    const { cells } = parseSvg(svg);
    expect(new Set(cells.map((c) => c.y)).size).toBe(30); // each page its own row
    expect(svg).toContain('address (touched pages)');
    // The axis names the first and the last touched page by address.
    expect(svg).toContain('>0x10000000<');
    expect(svg).toContain('>0x7fff00009000<');
  });

  test('deterministic, and an empty trace still draws', () => {
    expect(renderHeatmap(points, regions)).toBe(renderHeatmap(points, regions));
    const empty = parseSvg(renderHeatmap([], [{ index: 0, name: 'all' }]));
    expect(empty.panels).toBe(1);
    expect(empty.cells).toHaveLength(0);
  });
});

// Rendered as a person sees it: rsvg-convert (Debian librsvg2-bin) draws the
// SVG; each text is drawn alone to find where its ink falls, so overlapping
// labels are caught as they would be seen, whatever the font.
const hasRsvg = spawnSync('rsvg-convert', ['--version']).status === 0;
if (!hasRsvg) console.warn('trace-heatmap: rendering checks skipped: rsvg-convert not installed (Debian librsvg2-bin; scripts/setup.sh installs it)');
const isRoot = process.getuid?.() === 0;

function render(svg: string): Image {
  return decodePng(execFileSync('rsvg-convert', ['--format', 'png'], { input: svg, maxBuffer: 64 << 20 }));
}

interface Ink {
  cls: string;
  label: string;
  box: { x0: number; y0: number; x1: number; y1: number };
}

/** Every text of the SVG with the box its ink covers when drawn alone. */
function textInk(svg: string): Ink[] {
  const lines = svg.split('\n');
  const head = lines[0]!;
  const out: Ink[] = [];
  for (const line of lines) {
    const m = /^<text [^>]*class="([^"]*)"[^>]*>(.*)<\/text>$/.exec(line);
    if (!m) continue;
    const box = inkBox(render(`${head}\n${line}\n</svg>\n`));
    if (box) out.push({ cls: m[1]!, label: m[2]!, box });
  }
  return out;
}

function overlaps(a: Ink['box'], b: { x0: number; y0: number; x1: number; y1: number }): boolean {
  return a.x0 <= b.x1 && b.x0 <= a.x1 && a.y0 <= b.y1 && b.y0 <= a.y1;
}

/** What a reader needs, checked on the rendered picture. */
function checkReadable(svg: string, regions: HeatmapRegion[], opts: HeatmapOptions = {}): Ink[] {
  const layout = heatmapLayout(regions, opts);
  const full = render(svg);
  expect([full.width, full.height]).toEqual([layout.width, layout.height]);
  const inks = textInk(svg);
  // No two texts share a pixel; each is wholly on the canvas.
  for (let i = 0; i < inks.length; i++) {
    const a = inks[i]!;
    expect(a.box.x0, a.label).toBeGreaterThanOrEqual(0);
    expect(a.box.y0, a.label).toBeGreaterThanOrEqual(0);
    expect(a.box.x1, a.label).toBeLessThan(layout.width);
    expect(a.box.y1, a.label).toBeLessThan(layout.height);
    for (let j = i + 1; j < inks.length; j++) expect(overlaps(a.box, inks[j]!.box), `"${a.label}" and "${inks[j]!.label}" overlap`).toBe(false);
    // Nothing but the empty-panel note is drawn over a plot.
    if (a.cls !== 'empty') {
      for (const p of layout.panels) expect(overlaps(a.box, { x0: p.x, y0: p.y, x1: p.x + p.width - 1, y1: p.y + p.height - 1 }), `"${a.label}" over a plot`).toBe(false);
    }
  }
  const title = inks.find((t) => t.cls === 'title');
  expect(title).toBeDefined();
  expect(inks.filter((t) => t.cls === 'label')).toHaveLength(regions.length);
  return inks;
}

/** Inks of one panel's ticks: those whose vertical place is within the panel's band. */
function ticksOf(inks: Ink[], panel: { y: number; height: number }, axis: 'x' | 'y'): Ink[] {
  return inks.filter((t) => t.cls === `tick ${axis}` && t.box.y0 >= panel.y - 10 && t.box.y1 <= panel.y + panel.height + 24);
}

describe.skipIf(!hasRsvg)('the heatmap drawn by rsvg-convert', () => {
  const regions: HeatmapRegion[] = [
    { index: 0, name: 'heap', size: 8n << 20n, start: 0x5555_0000_0000n },
    { index: 1, name: 'all', size: 1n << 47n, start: 0n },
  ];
  // The heap swept over 300 ms starting 2 s into the trace; scattered pages of the whole process.
  const points: HeatmapPoint[] = [];
  for (let i = 0; i < 2048; i++) points.push({ time: 2e9 + (i * 3e8) / 2047, offset: BigInt(i) * 4096n, region: 0 });
  for (let i = 0; i < 300; i++) points.push({ time: 2e9 + i * 1e6, offset: 0x7f00_0000_0000n + BigInt((i * 7919) % 4000) * 4096n, region: 1 });

  test('title, labels, ticks and legends: none overlaps another or a plot; several ticks per axis; time from the first fault', () => {
    const svg = renderHeatmap(points, regions, { title: 'faultc trace: ' + 'a very long command line '.repeat(12) });
    const inks = checkReadable(svg, regions);
    const layout = heatmapLayout(regions);
    for (const p of layout.panels) {
      const xs = ticksOf(inks, p, 'x');
      const ys = ticksOf(inks, p, 'y');
      expect(xs.length).toBeGreaterThanOrEqual(4);
      expect(ys.length).toBeGreaterThanOrEqual(4);
      // The time axis starts at the first fault, not at the trace's start 2 s before it.
      expect(xs[0]!.label).toBe('0 ms');
      expect(xs.map((t) => t.label)).toContain('100 ms');
    }
    // The heap by offset, the whole process by address.
    expect(ticksOf(inks, layout.panels[0]!, 'y').map((t) => t.label)).toEqual(['0 B', '1 MiB', '2 MiB', '3 MiB', '4 MiB', '5 MiB', '6 MiB', '7 MiB', '8 MiB'].filter((_, i) => i % 2 === 0));
    for (const t of ticksOf(inks, layout.panels[1]!, 'y')) expect(t.label).toMatch(/^0x7f000[0-9a-f]{7}$/);
    // A legend beside each panel, from 1 to the busiest cell.
    const legends = svg.split('<g class="legend">').slice(1);
    expect(legends).toHaveLength(2);
    for (const l of legends) expect((l.match(/class="swatch"/g) ?? []).length).toBe(8);
    expect(inks.filter((t) => t.cls === 'legend-label').map((t) => t.label)).toContain('per cell');
    // The first heap cell sits at the left edge of its plot: no empty lead-in.
    const firstCell = /<rect class="cell" x="([\d.]+)"/.exec(svg.slice(svg.indexOf('data-region="0"')))!;
    expect(Number(firstCell[1])).toBeCloseTo(layout.panels[0]!.x, 1);
  });

  test('the overlap check sees what a reader sees: the old title over the panel label is caught', () => {
    const svg = renderHeatmap(points, regions);
    const label = /<text [^>]*class="label"[^>]*>/.exec(svg)![0];
    const y = Number(/ y="([\d.]+)"/.exec(label)![1]);
    // The title moved to where the first panel's label is, as before.
    const moved = svg.replace(/<text x="10\.0" y="20\.0" class="title"/, `<text x="124.0" y="${(y + 3).toFixed(1)}" class="title"`);
    expect(moved).not.toBe(svg);
    expect(() => checkReadable(moved, regions)).toThrow(/overlap/);
  });

  test('cells are drawn in the picture where the SVG puts them, in the legend\'s colours', () => {
    const svg = renderHeatmap(points, regions);
    const img = render(svg);
    const m = /<rect class="cell" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/.exec(svg)!;
    const [x, y, w, h] = m.slice(1).map(Number) as [number, number, number, number];
    const at = (Math.floor(y + h / 2) * img.width + Math.floor(x + w / 2)) * 4;
    const [r, g, b] = [img.pixels[at]!, img.pixels[at + 1]!, img.pixels[at + 2]!];
    expect(r).toBeGreaterThan(g + 40); // a red shade, not the plot's grey background
    expect(r).toBeGreaterThan(b + 40);
  });

  test.skipIf(!isRoot)('a real trace of a command, drawn: readable, addresses on the axis, several ticks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'faultc-heatmap-'));
    try {
      const file = join(dir, 'ls.svg');
      const cli = join(import.meta.dirname, '..', '..', 'dist', 'runtime', 'cli.js');
      const r = spawnSync(process.execPath, [cli, 'trace', '-q', '--heatmap', file, '--', 'ls', '-lR', '/usr/include/linux'], { encoding: 'utf8', timeout: 120_000 });
      expect(r.status).toBe(0);
      const svg = readFileSync(file, 'utf8');
      const whole: HeatmapRegion[] = [{ index: 0, name: 'all', size: 1n << 47n, start: 0n }];
      const inks = checkReadable(svg, whole);
      const panel = heatmapLayout(whole).panels[0]!;
      expect(ticksOf(inks, panel, 'x').length).toBeGreaterThanOrEqual(4);
      const ys = ticksOf(inks, panel, 'y');
      expect(ys.length).toBeGreaterThanOrEqual(4);
      for (const t of ys) expect(t.label).toMatch(/^0x[0-9a-f]+000$/);
      expect(svg).toContain('<g class="legend">');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
