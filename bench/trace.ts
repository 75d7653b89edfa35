// Cost of a first-touch page fault with the trace program attached, against
// the same fault untraced, in one run: a native C toucher writes one byte per
// page of a fresh 64 MiB anonymous mapping; each trial runs, back to back:
// untraced; traced with batched wake-ups (the default) and every event decoded
// in JavaScript (a Node API listener); traced with batched wake-ups and events
// only counted (the CLI's summary); traced with the reader asleep (the
// program's own cost); traced with a wake-up per event. Ratios
// are taken within a trial, so drift on a busy machine hits both sides alike;
// the figure is the median of those ratios. Target <= 1.2x.
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
  countedNs: number;
  programOnlyNs: number;
  wakeEachNs: number;
  /** Median over trials of traced / native: the figure with the target <= 1.2. */
  ratio: number;
  countedRatio: number;
  programOnlyRatio: number;
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

type Variant = 'batched' | 'counted' | 'asleep' | 'wakeEach';

async function runTraced(toucher: string, args: string[], variant: Variant): Promise<{ ns: number; events: number; lost: bigint }> {
  const tracer = await trace({
    command: [toucher, ...args],
    stdio: 'pipe',
    // Room for every event of a run: the measurement is of tracing, not of losing.
    ringBytes: 16 << 20,
    ...(variant === 'wakeEach' ? { wakeupBytes: 0 } : {}),
    // Never woken, polled once a second: the reader costs (almost) nothing.
    ...(variant === 'asleep' ? { wakeupBytes: 1 << 30, pollMs: 1000 } : {}),
  });
  // A listener makes the tracer decode every event into objects, as an API user's would.
  if (variant !== 'counted') tracer.on('batch', () => {});
  let out = '';
  tracer.child!.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = await tracer.exited!;
  const summary = await tracer.stop();
  if (exit.code !== 0) throw new Error(`toucher exited ${exit.code}`);
  return { ns: parseNs(out), events: summary.events, lost: summary.lost };
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
    const counted: number[] = [];
    const asleep: number[] = [];
    const wakeEach: number[] = [];
    let events = 0;
    let lost = 0n;
    // Warm-up: the first trace compiles and caches the program.
    await runTraced(toucher, ['bench', '16', '1'], 'batched');
    for (let i = 0; i < trials; i++) {
      native.push(await runUntraced(toucher, args));
      const t = await runTraced(toucher, args, 'batched');
      traced.push(t.ns);
      events += t.events;
      lost += t.lost;
      counted.push((await runTraced(toucher, args, 'counted')).ns);
      asleep.push((await runTraced(toucher, args, 'asleep')).ns);
      wakeEach.push((await runTraced(toucher, args, 'wakeEach')).ns);
    }
    const ratioOf = (xs: number[]) => median(xs.map((x, i) => x / native[i]!));
    return {
      pages,
      rounds,
      trials,
      nativeNs: median(native),
      tracedNs: median(traced),
      countedNs: median(counted),
      programOnlyNs: median(asleep),
      wakeEachNs: median(wakeEach),
      ratio: ratioOf(traced),
      countedRatio: ratioOf(counted),
      programOnlyRatio: ratioOf(asleep),
      wakeEachRatio: ratioOf(wakeEach),
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
    `trace engine: first-touch fault cost, ${mib} MiB x ${r.rounds} rounds x ${r.trials} trials (medians; ratios within a trial)`,
    `  native (untraced)               ${r.nativeNs.toFixed(0).padStart(6)} ns/page  1.00x`,
    `  traced, batched, JS decodes     ${r.tracedNs.toFixed(0).padStart(6)} ns/page  ${r.ratio.toFixed(2)}x  (target <= 1.2x)`,
    `  traced, batched, counted only   ${r.countedNs.toFixed(0).padStart(6)} ns/page  ${r.countedRatio.toFixed(2)}x`,
    `  traced, reader asleep (program) ${r.programOnlyNs.toFixed(0).padStart(6)} ns/page  ${r.programOnlyRatio.toFixed(2)}x`,
    `  traced, a wake-up per event     ${r.wakeEachNs.toFixed(0).padStart(6)} ns/page  ${r.wakeEachRatio.toFixed(2)}x`,
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
