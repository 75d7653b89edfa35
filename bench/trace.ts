// Cost of a first-touch page fault with the trace program attached, against
// the same fault untraced, in one run: a native C toucher writes one byte per
// page of a fresh 64 MiB anonymous mapping; trials alternate untraced, traced
// (batched wake-ups, the default) and traced with a wake-up per event, so
// drift on the machine hits all three alike. Reported as ratios; target <= 1.2x.
//   node dist/bench/trace.js [--pages N] [--rounds N] [--trials N] [--json]
// Needs root. bench/run.ts can call benchTrace() and print formatTraceBench().
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trace } from '../runtime/trace.js';

const here = dirname(fileURLToPath(import.meta.url));

function repoRoot(): string {
  // dist/bench/ when built, bench/ when run from source.
  return here.endsWith(join('dist', 'bench')) ? resolve(here, '..', '..') : resolve(here, '..');
}

export interface TraceBenchOptions {
  /** Pages touched per round (default 16384 = 64 MiB). */
  pages?: number;
  /** Rounds per process; the toucher reports their median (default 5). */
  rounds?: number;
  /** Processes per variant, alternated (default 5). */
  trials?: number;
}

export interface TraceBenchResult {
  pages: number;
  rounds: number;
  trials: number;
  /** Median ns per first-touch fault. */
  nativeNs: number;
  tracedNs: number;
  wakeEachNs: number;
  /** traced / native: the figure with the target <= 1.2. */
  ratio: number;
  wakeEachRatio: number;
  /** Events delivered and lost in the traced (batched) trials. */
  events: number;
  lost: bigint;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function parseNs(out: string): number {
  const r = JSON.parse(out) as { nsPerPage: number };
  return r.nsPerPage;
}

function runUntraced(toucher: string, args: string[]): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(toucher, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolvePromise(parseNs(out)) : reject(new Error(`toucher exited ${code}`))));
  });
}

async function runTraced(toucher: string, args: string[], wakeEach: boolean): Promise<{ ns: number; events: number; lost: bigint }> {
  const tracer = await trace({
    command: [toucher, ...args],
    stdio: 'pipe',
    // Room for every event of a round: the measurement is of tracing, not of losing.
    ringBytes: 8 << 20,
    ...(wakeEach ? { wakeupBytes: 0 } : {}),
  });
  let events = 0;
  tracer.on('batch', (b) => (events += b.length));
  let out = '';
  tracer.child!.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = await tracer.exited!;
  const summary = await tracer.stop();
  if (exit.code !== 0) throw new Error(`toucher exited ${exit.code}`);
  return { ns: parseNs(out), events, lost: summary.lost };
}

export async function benchTrace(opts: TraceBenchOptions = {}): Promise<TraceBenchResult> {
  const pages = opts.pages ?? 16384;
  const rounds = opts.rounds ?? 5;
  const trials = opts.trials ?? 5;
  const work = mkdtempSync(join(tmpdir(), 'faultc-trace-bench-'));
  try {
    const toucher = join(work, 'toucher');
    execFileSync('cc', ['-O2', '-pthread', '-o', toucher, join(repoRoot(), 'test', 'trace-fixtures', 'toucher.c')]);
    const args = ['bench', String(pages), String(rounds)];
    const native: number[] = [];
    const traced: number[] = [];
    const wakeEach: number[] = [];
    let events = 0;
    let lost = 0n;
    // Warm-up: the first trace compiles and caches the program.
    await runTraced(toucher, ['bench', '16', '1'], false);
    for (let i = 0; i < trials; i++) {
      native.push(await runUntraced(toucher, args));
      const t = await runTraced(toucher, args, false);
      traced.push(t.ns);
      events += t.events;
      lost += t.lost;
      wakeEach.push((await runTraced(toucher, args, true)).ns);
    }
    const nativeNs = median(native);
    const tracedNs = median(traced);
    const wakeEachNs = median(wakeEach);
    return {
      pages,
      rounds,
      trials,
      nativeNs,
      tracedNs,
      wakeEachNs,
      ratio: tracedNs / nativeNs,
      wakeEachRatio: wakeEachNs / nativeNs,
      events,
      lost,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function formatTraceBench(r: TraceBenchResult): string {
  const mib = (r.pages * 4096) / (1 << 20);
  return [
    `trace engine: first-touch fault cost, ${mib} MiB x ${r.rounds} rounds x ${r.trials} trials (medians)`,
    `  native (untraced)            ${r.nativeNs.toFixed(0).padStart(6)} ns/page  1.00x`,
    `  traced, batched wake-ups     ${r.tracedNs.toFixed(0).padStart(6)} ns/page  ${r.ratio.toFixed(2)}x  (target <= 1.2x)`,
    `  traced, a wake-up per event  ${r.wakeEachNs.toFixed(0).padStart(6)} ns/page  ${r.wakeEachRatio.toFixed(2)}x`,
    `  events delivered ${r.events}, lost ${r.lost}`,
  ].join('\n');
}

function arg(name: string): number | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : undefined;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opts: TraceBenchOptions = {};
  const pages = arg('--pages');
  const rounds = arg('--rounds');
  const trials = arg('--trials');
  if (pages !== undefined) opts.pages = pages;
  if (rounds !== undefined) opts.rounds = rounds;
  if (trials !== undefined) opts.trials = trials;
  const r = await benchTrace(opts);
  if (process.argv.includes('--json')) {
    process.stdout.write(JSON.stringify({ ...r, lost: r.lost.toString() }) + '\n');
  } else {
    process.stdout.write(formatTraceBench(r) + '\n');
  }
}
