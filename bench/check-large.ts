// `faultc check` on a generated 1,000-region policy: wall time of the whole
// command, Node start included, as a user would see it. Prints the median of
// several runs; the target is under 300 ms.
//   node dist/bench/check-large.js [--regions N] [--runs N] [--keep]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** dist/bench/ -> repository root. */
const root = resolve(here, '..', '..');
const cli = join(root, 'dist', 'runtime', 'cli.js');

/** Region bodies in the style of the examples, cycled so every construct appears. */
const BODIES = [
  (i: number) => `  region guard${i} size 1 page {\n    on missing {\n      notify\n      sigbus\n    }\n  }\n`,
  (i: number) => `  region arena${i} size 16 MiB {\n    on missing { fill 0xA5 }\n  }\n`,
  (i: number) =>
    `  region heap${i} size 64 MiB {\n    on missing {\n      copy image at offset\n      prefetch 15 pages ahead\n      notify\n    }\n  }\n`,
  (i: number) =>
    `  region tier${i} size 8 MiB {\n    on missing {\n      if offset < 1 MiB and offset < image.size {\n        copy image at offset\n      } else if write {\n        zero\n        notify\n      } else {\n        zero\n      }\n    }\n    on write {\n      track dirty\n    }\n  }\n`,
  (i: number) =>
    `  region guest${i} size 256 MiB at 0x${(0x1000_0000_0000 + i * 0x1000_0000).toString(16)} {\n    on missing {\n      if offset < 64 KiB {\n        sigbus\n      } else {\n        copy image at offset - 64 KiB\n        prefetch 31 pages around\n      }\n    }\n  }\n`,
];

export function largePolicy(regions: number): string {
  let text = `# generated: ${regions} regions\npolicy large {\n  source image = file "heap.img"\n\n`;
  for (let i = 0; i < regions; i++) text += BODIES[i % BODIES.length]!(i);
  return text + '}\n';
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function main(): void {
  const regions = arg('--regions', 1000);
  const runs = arg('--runs', 7);
  const dir = mkdtempSync(join(tmpdir(), 'faultc-check-bench-'));
  const file = join(dir, 'large.pfp');
  const text = largePolicy(regions);
  writeFileSync(file, text);
  try {
    const times: number[] = [];
    // One untimed run warms the file cache and the compile cache of Node itself.
    for (let i = 0; i <= runs; i++) {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(process.execPath, [cli, 'check', file], { encoding: 'utf8' });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status !== 0) {
        process.stderr.write(r.stderr + r.stdout);
        throw new Error(`faultc check exited ${r.status}`);
      }
      if (i > 0) times.push(ms);
    }
    const t0 = process.hrtime.bigint();
    spawnSync(process.execPath, ['-e', '0']);
    const nodeStart = Number(process.hrtime.bigint() - t0) / 1e6;
    const med = median(times);
    process.stdout.write(
      `faultc check, ${regions} regions (${(text.length / 1024).toFixed(0)} KiB): median ${med.toFixed(1)} ms over ${runs} runs ` +
        `(min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)}); bare node start ${nodeStart.toFixed(1)} ms; ` +
        `target 300 ms: ${med < 300 ? 'met' : 'missed'}\n`,
    );
  } finally {
    if (!process.argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
