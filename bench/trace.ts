// Cost of a first-touch page fault with the trace program attached, against
// the same fault with nothing attached, in one run of one process: a native C
// toucher maps a fresh 64 MiB anonymous region per round and writes one byte
// per page; between rounds it waits while this harness attaches or detaches
// the program. Rounds cycle through four set-ups, back to back, so a busy
// machine's drift hits all alike:
//   native     nothing attached
//   batched    attached, batched wake-ups (the default), every event decoded
//              into objects in JavaScript (what a Node API listener costs)
//   counted    attached, batched, events only counted (the CLI's summary)
//   wakeEach   attached, a wake-up per event (what batching avoids)
// The figure is the median over cycles of batched / native. Target <= 1.2x.
// Then the command as a user runs it (bench/trace-command.ts): --vma [heap]
// overhead on a workload that times itself, and start-up beside bpftrace's.
//   node dist/bench/trace.js [--pages N] [--cycles N] [--json]
// Needs root. bench/run.ts can call benchTrace() and print formatTraceBench().
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TRACE_FLAGS, TRACE_LIMITS, TRACE_MODES } from '../abi/trace.js';
import { bpfNative, decodeEvents, type NativeTraceSession } from '../runtime/bpf/native.js';
import { genericTraceObject } from '../runtime/trace/program.js';
import { benchTraceCommand, formatTraceCommandBench, type TraceCommandResult } from './trace-command.js';

const here = dirname(fileURLToPath(import.meta.url));

function repoRoot(): string {
  // dist/bench/ when built, bench/ when run from source.
  return here.endsWith(join('dist', 'bench')) ? resolve(here, '..', '..') : resolve(here, '..');
}

export interface TraceBenchOptions {
  /** Pages touched per round (default 16384 = 64 MiB). */
  pages?: number;
  /** Cycles of the four set-ups (default 15). */
  cycles?: number;
}

const VARIANTS = ['native', 'batched', 'counted', 'wakeEach'] as const;
type Variant = (typeof VARIANTS)[number];

export interface TraceBenchResult {
  pages: number;
  cycles: number;
  /** Median ns per first-touch fault, per set-up. */
  ns: Record<Variant, number>;
  /** Median over cycles of set-up / native. ratio.batched is the figure (target <= 1.2). */
  ratio: Record<Variant, number>;
  /** Events delivered and lost over every attached round. */
  events: number;
  lost: bigint;
  /** faultc trace on a command: --vma overhead and start-up beside bpftrace. */
  command: TraceCommandResult;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export async function benchTrace(opts: TraceBenchOptions = {}): Promise<TraceBenchResult> {
  const session = await benchSession(opts);
  const cli = join(repoRoot(), 'dist', 'runtime', 'cli.js');
  const command = benchTraceCommand(cli, { toucher: join(repoRoot(), 'test', 'trace-fixtures', 'toucher.c'), stamp: join(repoRoot(), 'bench', 'trace-stamp.c') }, opts.pages === undefined ? {} : { pages: opts.pages });
  return { ...session, command };
}

/** The program's cost per fault, attached and detached in one process. */
async function benchSession(opts: TraceBenchOptions): Promise<Omit<TraceBenchResult, 'command'>> {
  const pages = opts.pages ?? 16384;
  const cycles = opts.cycles ?? 15;
  const work = mkdtempSync(join(tmpdir(), 'faultc-trace-bench-'));
  const { TraceSession } = bpfNative();
  const object = await genericTraceObject();
  const ringBytes = TRACE_LIMITS.defaultRingBytes * 16;
  const flags = TRACE_FLAGS.followForks | TRACE_FLAGS.kernelFaults;
  // The wake-up threshold is load-time configuration: one session per setting.
  const batched = new TraceSession(object, ringBytes, { mode: TRACE_MODES.trace, flags, wakeupBytes: ringBytes / 8 });
  const wakeEach = new TraceSession(object, ringBytes, { mode: TRACE_MODES.trace, flags, wakeupBytes: 0 });
  const sessions = [batched, wakeEach];
  let child: ReturnType<typeof spawn> | undefined;
  try {
    const toucher = join(work, 'toucher');
    execFileSync('cc', ['-O2', '-pthread', '-o', toucher, join(repoRoot(), 'test', 'trace-fixtures', 'toucher.c')]);
    const rounds = cycles * VARIANTS.length;
    child = spawn(toucher, ['steps', String(pages), String(rounds)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();

    let decode = true;
    let events = 0;
    for (const session of sessions) {
      session.setRanges([{ start: 0n, end: 1n << 56n, base: 0n, region: 0 }]);
      session.addTarget(child.pid!);
      session.start((buf) => {
        events += decode ? decodeEvents(buf).length : Math.floor(buf.length / 56);
      }, 50);
    }

    const ns: Record<Variant, number[]> = { native: [], batched: [], counted: [], wakeEach: [] };
    let attached: NativeTraceSession | undefined;
    for (let c = 0; c < cycles; c++) {
      for (const v of VARIANTS) {
        const want = v === 'native' ? undefined : v === 'wakeEach' ? wakeEach : batched;
        if (attached !== want) {
          attached?.detach();
          want?.attach();
          attached = want;
        }
        decode = v !== 'counted';
        child.stdin!.write('\n');
        const next = await lines.next();
        if (next.done) throw new Error('the toucher stopped early');
        ns[v].push((JSON.parse(next.value) as { nsPerPage: number }).nsPerPage);
      }
    }
    let lost = 0n;
    for (const session of sessions) {
      await session.stop();
      lost += session.lost();
    }
    const ratio = {} as Record<Variant, number>;
    const med = {} as Record<Variant, number>;
    for (const v of VARIANTS) {
      med[v] = median(ns[v]);
      ratio[v] = median(ns[v].map((x, i) => x / ns.native[i]!));
    }
    return { pages, cycles, ns: med, ratio, events, lost };
  } finally {
    for (const session of sessions) session.close();
    if (child && child.exitCode === null) child.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  }
}

export function formatTraceBench(r: TraceBenchResult): string {
  const mib = (r.pages * 4096) / (1 << 20);
  const row = (label: string, v: Variant, note = '') =>
    `  ${label.padEnd(34)}${r.ns[v].toFixed(0).padStart(6)} ns/page  ${r.ratio[v].toFixed(2)}x${note}`;
  return [
    `trace engine: first-touch fault cost, ${mib} MiB per round, ${r.cycles} cycles, one process (medians; ratios within a cycle)`,
    row('native (nothing attached)', 'native'),
    row('traced, batched, JS decodes', 'batched', '  (target <= 1.2x)'),
    row('traced, batched, counted only', 'counted'),
    row('traced, a wake-up per event', 'wakeEach'),
    `  events delivered ${r.events}, lost ${r.lost}`,
    formatTraceCommandBench(r.command),
  ].join('\n');
}

function arg(name: string): number | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : undefined;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opts: TraceBenchOptions = {};
  const pages = arg('--pages');
  const cycles = arg('--cycles');
  if (pages !== undefined) opts.pages = pages;
  if (cycles !== undefined) opts.cycles = cycles;
  const r = await benchTrace(opts);
  if (process.argv.includes('--json')) {
    process.stdout.write(JSON.stringify({ ...r, lost: r.lost.toString() }) + '\n');
  } else {
    process.stdout.write(formatTraceBench(r) + '\n');
  }
}
