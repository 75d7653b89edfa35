// `npm run bench -- --only http`: lazy reads of a 256 MiB file from a real
// nginx on 127.0.0.1, against what curl (libcurl, the same library) does
// with the same server in the same run:
// - the limit: `curl -o /dev/null` of the whole file (bulk MB/s);
// - the latency floor: the median of single 4 KiB range GETs at random
//   offsets over one kept-alive connection (one curl process, many URLs);
// - faultc: sequential first touch of the whole region with prefetch 15 and
//   63 (MB/s, as a ratio to bulk; target >= 0.70), and random 4 KiB touches
//   without prefetch (µs per touch, as a ratio to the median range GET;
//   target <= 1.5), from 1 and 2 faulting threads.
// Ratios only; no test asserts a speed.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicy } from '../runtime/api/policy.js';
import { Nginx, nginxMissing } from './nginx.js';
import { median } from './section.js';

const PAGE = 4096;
const FILE_BYTES = 256 * 1024 * 1024;
const RANDOM_TOUCHES = 2048;
const RANGE_GETS = 400;
const REPS = 3;

interface Row {
  name: string;
  threads: number;
  /** MB/s for whole-file rows, µs per page for random touches. */
  value: number;
  unit: 'MB/s' | 'µs';
  /** Against the bulk download (MB/s rows) or the median range GET (µs rows). */
  ratio: number;
  target: string;
  requests?: number;
}

export interface HttpBenchResult {
  skipped?: string;
  fileBytes: number;
  bulkMBps: number;
  rangeGetMedianUs: number;
  rows: Row[];
}

const mbps = (bytes: number, ns: number): number => bytes / 1e6 / (ns / 1e9);

function curl(args: string[]): string {
  const r = spawnSync('curl', ['-s', '--noproxy', '*', ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`curl ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Whole file to /dev/null: MB/s. */
function bulk(url: string): number {
  const out = curl(['-o', '/dev/null', '-w', '%{size_download} %{time_total}', url]).trim().split(' ');
  return Number(out[0]) / 1e6 / Number(out[1]);
}

/** µs of each of n 4 KiB range GETs at random page offsets, one connection. */
function rangeGets(url: string, n: number, dir: string): number[] {
  const cfg = join(dir, 'ranges.curl');
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const off = Math.floor(Math.random() * (FILE_BYTES / PAGE)) * PAGE;
    if (i) lines.push('next');
    lines.push(`url = "${url}"`, `range = "${off}-${off + PAGE - 1}"`, 'output = "/dev/null"', 'write-out = "%{time_total}\\n"');
  }
  writeFileSync(cfg, lines.join('\n') + '\n');
  return curl(['-K', cfg]).trim().split('\n').map((s) => Number(s) * 1e6);
}

function writePolicy(dir: string, name: string, body: string, url: string): string {
  const path = join(dir, `${name}.pfp`);
  writeFileSync(path, `policy ${name} {\n  source img = http "${url}"\n  region r size 256 MiB {\n    on missing { ${body} }\n  }\n}\n`);
  return path;
}

/** Median ns of touching `pages` (fresh region each rep), and the GETs the last rep sent. */
async function touchRun(pfp: string, cacheDir: string, pages: () => Uint32Array, threads: number): Promise<{ ns: number; requests: number }> {
  const samples: number[] = [];
  let requests = 0;
  for (let r = 0; r < REPS; r++) {
    const policy = await loadPolicy(pfp, { engine: 'uffd', cacheDir });
    try {
      const region = policy.region('r');
      samples.push((await region.touch(pages(), { threads })).ns);
      const st = region.stats();
      if (st.errors || st.sigbus) throw new Error(`${pfp}: ${st.errors} errors, ${st.sigbus} SIGBUS while benchmarking`);
      requests = (policy.sourceStats('img')?.requests ?? 1) - 1;
    } finally {
      await policy.close();
    }
  }
  return { ns: median(samples), requests };
}

export async function benchHttp(_opts: { pages: number }): Promise<HttpBenchResult> {
  const missing = nginxMissing();
  const none = { fileBytes: FILE_BYTES, bulkMBps: 0, rangeGetMedianUs: 0, rows: [] };
  if (missing) return { skipped: missing, ...none };
  if (spawnSync('curl', ['--version']).status !== 0) return { skipped: 'curl is not installed', ...none };
  const dir = mkdtempSync(join(tmpdir(), 'faultc-bench-http-'));
  const nginx = await Nginx.start();
  try {
    const fd = openSync(join(nginx.www, 'big.img'), 'w');
    for (let off = 0; off < FILE_BYTES; off += 1 << 24) writeSync(fd, randomBytes(1 << 24));
    closeSync(fd);
    const url = nginx.url('big.img');
    bulk(url); // page cache warm, for nginx and for the runs after
    const bulkMBps = median(Array.from({ length: REPS }, () => bulk(url)));
    const rangeGetMedianUs = median(rangeGets(url, RANGE_GETS, dir));

    const cache = join(dir, 'cache');
    const nPages = FILE_BYTES / PAGE;
    const seq = (): Uint32Array => Uint32Array.from({ length: nPages }, (_, i) => i);
    const random = (): Uint32Array => Uint32Array.from({ length: RANDOM_TOUCHES }, () => Math.floor(Math.random() * nPages));
    const rows: Row[] = [];
    for (const prefetch of [15, 63]) {
      const pfp = writePolicy(dir, `seq_${prefetch}`, `copy img prefetch ${prefetch} pages`, url);
      for (const threads of [1, 2]) {
        const { ns, requests } = await touchRun(pfp, cache, seq, threads);
        const v = mbps(FILE_BYTES, ns);
        rows.push({ name: `sequential, prefetch ${prefetch}`, threads, value: v, unit: 'MB/s', ratio: v / bulkMBps, target: '>= 0.70', requests });
      }
    }
    const pfp = writePolicy(dir, 'random_copy', 'copy img', url);
    for (const threads of [1, 2]) {
      // Distinct pages are not needed: a repeated page is a present page, no fault.
      let touches = 0;
      const pages = (): Uint32Array => {
        const p = Uint32Array.from(new Set(random()));
        touches = p.length;
        return p;
      };
      const { ns, requests } = await touchRun(pfp, cache, pages, threads);
      const us = ns / 1e3 / touches;
      rows.push({ name: 'random 4 KiB touches, no prefetch', threads, value: us, unit: 'µs', ratio: us / rangeGetMedianUs, target: '<= 1.5', requests });
    }
    return { fileBytes: FILE_BYTES, bulkMBps, rangeGetMedianUs, rows };
  } finally {
    await nginx.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatHttpBench(r: HttpBenchResult): string {
  if (r.skipped) return `http: skipped: ${r.skipped}`;
  const lines = [
    `http source, nginx on 127.0.0.1, ${r.fileBytes / (1 << 20)} MiB file, median of ${REPS} runs`,
    `  curl -o /dev/null, whole file (the limit): ${r.bulkMBps.toFixed(0)} MB/s`,
    `  single 4 KiB range GET, median of ${RANGE_GETS} (one connection): ${r.rangeGetMedianUs.toFixed(0)} µs`,
  ];
  for (const row of r.rows) {
    const v = row.unit === 'MB/s' ? `${row.value.toFixed(0)} MB/s` : `${row.value.toFixed(0)} µs/touch`;
    const what = row.unit === 'MB/s' ? 'of bulk' : 'of a range GET';
    lines.push(`  ${row.name}, ${row.threads} thread${row.threads > 1 ? 's' : ''}: ${v} = ${row.ratio.toFixed(2)}× ${what} (target ${row.target}; ${row.requests} GETs)`);
  }
  return lines.join('\n');
}
