// Start-up of `faultc trace` beside bpftrace's, in one run, runs interleaved
// (the order alternating) so a busy machine's drift hits both alike.
//
// Both tools trace the page faults of the same command, bench/trace-stamp.c,
// which prints the CLOCK_MONOTONIC time its main() starts:
//   faultc    faultc trace -q -- STAMP
//   bpftrace  bpftrace -q -e 'tracepoint:exceptions:page_fault_user /pid == cpid/ { @faults = count(); }' -c STAMP
// Two figures per run, both from the moment this harness spawns the tool
// (CLOCK_MONOTONIC, as process.hrtime):
//   ready  until the traced command's main() runs: the tool has started,
//          loaded and attached its program and started the command
//   total  until the tool has exited: ready, plus the command, the detach,
//          the report and the tool's own exit (a user's wall time)
// Medians over the runs; the load average is read before and after.
//   node dist/bench/trace-startup.js [--reps N] [--json]
// Needs root; without bpftrace (Debian bpftrace) its figures are null.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StartupFigures {
  /** Median ms from spawning the tool to the traced command's main(). */
  readyMs: number;
  /** Median ms from spawning the tool to its exit. */
  totalMs: number;
}

export interface TraceStartupResult {
  reps: number;
  faultc: StartupFigures;
  /** null when bpftrace is not installed. */
  bpftrace: StartupFigures | null;
  /** 1-minute load average before and after the runs. */
  load: [number, number];
}

const STAMP = 'faultc-stamp ';
export const BPFTRACE_PROGRAM = 'tracepoint:exceptions:page_fault_user /pid == cpid/ { @faults = count(); }';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function hasBpftrace(): boolean {
  return spawnSync('bpftrace', ['--version']).status === 0;
}

/** One run of `cmd args`: ms to the stamp the traced command printed, and to the tool's exit. */
function timeRun(cmd: string, args: string[]): { ready: number; total: number } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  const t1 = process.hrtime.bigint();
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}: ${(r.stderr ?? '').slice(0, 500)}`);
  const line = r.stdout.split('\n').find((l) => l.startsWith(STAMP));
  if (!line) throw new Error(`${cmd}: the traced command printed no stamp: ${r.stdout.slice(0, 200)}`);
  const stamp = BigInt(line.slice(STAMP.length).trim());
  if (stamp < t0 || stamp > t1) throw new Error(`${cmd}: the stamp ${stamp} lies outside the run (${t0}..${t1})`);
  return { ready: Number(stamp - t0) / 1e6, total: Number(t1 - t0) / 1e6 };
}

function figures(runs: { ready: number; total: number }[]): StartupFigures {
  return { readyMs: median(runs.map((r) => r.ready)), totalMs: median(runs.map((r) => r.total)) };
}

/** `cli` is dist/runtime/cli.js; `stampSource` is bench/trace-stamp.c. */
export function benchTraceStartup(cli: string, stampSource: string, reps = 9): TraceStartupResult {
  const work = mkdtempSync(join(tmpdir(), 'faultc-trace-startup-'));
  try {
    const stamp = join(work, 'stamp');
    execFileSync('cc', ['-O2', '-o', stamp, stampSource]);
    const withBpftrace = hasBpftrace();
    const tools = {
      faultc: () => timeRun(process.execPath, [cli, 'trace', '-q', '--', stamp]),
      bpftrace: () => timeRun('bpftrace', ['-q', '-e', BPFTRACE_PROGRAM, '-c', stamp]),
    };
    // One untimed run each: the trace program's object is built on first use (cached after).
    tools.faultc();
    if (withBpftrace) tools.bpftrace();
    const load0 = loadavg()[0]!;
    const f: { ready: number; total: number }[] = [];
    const b: { ready: number; total: number }[] = [];
    for (let i = 0; i < reps; i++) {
      if (withBpftrace && i % 2 === 1) b.push(tools.bpftrace());
      f.push(tools.faultc());
      if (withBpftrace && i % 2 === 0) b.push(tools.bpftrace());
    }
    return { reps, faultc: figures(f), bpftrace: withBpftrace ? figures(b) : null, load: [load0, loadavg()[0]!] };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function formatTraceStartupBench(r: TraceStartupResult): string {
  const ms = (v: number) => `${v.toFixed(0).padStart(5)} ms`;
  const b = r.bpftrace;
  const ratio = (a: number, c: number) => `  faultc/bpftrace ${(a / c).toFixed(2)}x`;
  return [
    `trace start-up: a trace of a command that prints its start time, ${r.reps} runs each, interleaved (medians; load ${r.load[0].toFixed(2)} -> ${r.load[1].toFixed(2)})`,
    `  to the command's main()  faultc ${ms(r.faultc.readyMs)}  bpftrace ${b ? `${ms(b.readyMs)}${ratio(r.faultc.readyMs, b.readyMs)}` : 'not installed'}`,
    `  to the tool's exit       faultc ${ms(r.faultc.totalMs)}  bpftrace ${b ? `${ms(b.totalMs)}${ratio(r.faultc.totalMs, b.totalMs)}` : 'not installed'}`,
  ].join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/bench/ when built, bench/ when run from source.
  const root = here.endsWith(join('dist', 'bench')) ? resolve(here, '..', '..') : resolve(here, '..');
  const i = process.argv.indexOf('--reps');
  const reps = i >= 0 ? Number(process.argv[i + 1]) : 9;
  if (!Number.isInteger(reps) || reps < 1) throw new Error('--reps takes a positive integer');
  const r = benchTraceStartup(join(root, 'dist', 'runtime', 'cli.js'), join(root, 'bench', 'trace-stamp.c'), reps);
  process.stdout.write((process.argv.includes('--json') ? JSON.stringify(r) : formatTraceStartupBench(r)) + '\n');
}
