// `faultc trace` as a user runs it, in one run, cycles interleaved so a busy
// machine's drift hits every set-up alike:
//  - --vma overhead: a C workload (toucher mixed) grows its heap and maps as
//    much memory elsewhere, first-touching both, and times itself; run
//    untraced, under `faultc trace --vma [heap]` (half of its faults left out
//    by the filter) and under `faultc trace` (every fault). The figure is the
//    median over cycles of traced / untraced ns per page (target <= 1.2x).
//  - start-up beside bpftrace's (bench/trace-startup.ts): to the traced
//    command's main() and to the tool's exit.
// Needs root; bpftrace is optional (Debian bpftrace, in scripts/setup.sh).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchTraceStartup, formatTraceStartupBench, type TraceStartupResult } from './trace-startup.js';

export interface TraceCommandOptions {
  /** Pages of heap and of mapping per round (default 16384 each). */
  pages?: number;
  /** Rounds the workload times per run (its median is the run's figure; default 5). */
  rounds?: number;
  /** Interleaved cycles (default 5). */
  cycles?: number;
  /** Start-up runs of each tool (default 9). */
  startups?: number;
}

export interface TraceCommandResult {
  pages: number;
  cycles: number;
  /** Median ns per page of the workload. */
  ns: { untraced: number; vmaHeap: number; all: number };
  /** Median over cycles of traced / untraced. */
  ratio: { vmaHeap: number; all: number };
  /** Start-up beside bpftrace's, in the same run. */
  startup: TraceStartupResult;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function nsPerPage(stdout: string): number {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  const v = (JSON.parse(line) as { nsPerPage?: number }).nsPerPage;
  if (typeof v !== 'number') throw new Error(`the workload printed no figure: ${stdout.slice(0, 200)}`);
  return v;
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}: ${r.stderr.slice(0, 500)}`);
  return r.stdout;
}

/** `sources`: test/trace-fixtures/toucher.c and bench/trace-stamp.c. */
export function benchTraceCommand(cli: string, sources: { toucher: string; stamp: string }, opts: TraceCommandOptions = {}): TraceCommandResult {
  const pages = opts.pages ?? 16384;
  const rounds = opts.rounds ?? 5;
  const cycles = opts.cycles ?? 5;
  const startups = opts.startups ?? 9;
  const work = mkdtempSync(join(tmpdir(), 'faultc-trace-command-'));
  try {
    const toucher = join(work, 'toucher');
    execFileSync('cc', ['-O2', '-pthread', '-o', toucher, sources.toucher]);
    const workload = [toucher, 'mixed', String(pages), String(rounds)];
    const ns = { untraced: [] as number[], vmaHeap: [] as number[], all: [] as number[] };
    const ratios = { vmaHeap: [] as number[], all: [] as number[] };
    for (let c = 0; c < cycles; c++) {
      const u = nsPerPage(run(workload[0]!, workload.slice(1)));
      const h = nsPerPage(run(process.execPath, [cli, 'trace', '-q', '--vma', '[heap]', '--', ...workload]));
      const a = nsPerPage(run(process.execPath, [cli, 'trace', '-q', '--', ...workload]));
      ns.untraced.push(u);
      ns.vmaHeap.push(h);
      ns.all.push(a);
      ratios.vmaHeap.push(h / u);
      ratios.all.push(a / u);
    }
    const startup = benchTraceStartup(cli, sources.stamp, startups);
    return {
      pages,
      cycles,
      ns: { untraced: median(ns.untraced), vmaHeap: median(ns.vmaHeap), all: median(ns.all) },
      ratio: { vmaHeap: median(ratios.vmaHeap), all: median(ratios.all) },
      startup,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function formatTraceCommandBench(r: TraceCommandResult): string {
  const mib = (r.pages * 4096) / (1 << 20);
  const row = (label: string, v: number, ratio?: number, note = '') =>
    `  ${label.padEnd(34)}${v.toFixed(0).padStart(6)} ns/page${ratio === undefined ? '' : `  ${ratio.toFixed(2)}x${note}`}`;
  return [
    `faultc trace on a command: ${mib} MiB of heap and ${mib} MiB elsewhere first-touched per round, ${r.cycles} cycles (medians; ratios within a cycle)`,
    row('untraced', r.ns.untraced),
    row('faultc trace --vma [heap]', r.ns.vmaHeap, r.ratio.vmaHeap, '  (target <= 1.2x)'),
    row('faultc trace (every fault)', r.ns.all, r.ratio.all),
    formatTraceStartupBench(r.startup),
  ].join('\n');
}
