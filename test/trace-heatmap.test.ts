// The heatmap renderer: the SVG parses as XML (checked by an independent
// parser, Python's xml.etree), has the dimensions the layout promises, one
// panel per region, and cells exactly where the faults are.
import { execFileSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { heatmapLayout, renderHeatmap, type HeatmapPoint, type HeatmapRegion } from '../runtime/trace/heatmap.js';

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
    expect(layout.width).toBe(640 + 130);
    expect(layout.height).toBe(34 + 2 * 200 + 46 + 40);
    expect(parsed.panels).toBe(2);
    expect(svg).toContain('heap &lt;main&gt; &amp; &quot;co&quot;');
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
    expect(svg).toContain('30 pages');
    expect(svg).toContain('touched pages');
  });

  test('deterministic, and an empty trace still draws', () => {
    expect(renderHeatmap(points, regions)).toBe(renderHeatmap(points, regions));
    const empty = parseSvg(renderHeatmap([], [{ index: 0, name: 'all' }]));
    expect(empty.panels).toBe(1);
    expect(empty.cells).toHaveLength(0);
  });
});
