// `npm run bench -- --only criu`: restoring a real process dumped by CRIU,
// four ways over the same images in one run: `criu restore` (every page
// before the first instruction), `criu lazy-pages`, `faultc lazy-pages`, and
// faultc replaying a recorded working set. The program (test/fixtures/criu/
// pattern-heap.c) reads a tenth of its pages at random, then all of them,
// checking every word. Times are from the start of `criu restore`.
//
// Fairness on a shared machine: every heap size is dumped first; then the
// (size, mode) restores run round by round (3 rounds), each round in its
// own shuffled order (seeded, printed), each after the images were synced and read through once, so every mode starts
// with them in the page cache and no writeback of them pending. Each row
// carries the 1-minute load average when it started; the table shows each
// column's median over the rounds, and each target's ratio is taken within
// a round (its median, and in how many rounds it was met).
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFixture, criuOrSkip, dump, readJson, startDaemon, startProgram, waitFor } from '../test/helpers/criu.js';

interface ProgramResult {
  pid: number;
  bad: number;
  start: number;
  ws: number;
  all: number;
}

export interface CriuRow {
  heapMiB: number;
  /** Which round of the run (0-based); in `rows`, the medians over the rounds, round -1. */
  round: number;
  mode: 'criu restore' | 'criu lazy-pages' | 'faultc lazy-pages' | 'faultc replay';
  /** ms from `criu restore` to the program's first instruction after it. */
  firstInstructionMs: number;
  /** ms until the program has read its working set (a tenth of its pages, random). */
  workingSetMs: number;
  /** ms until every page is present (the restore, or the daemon, is done). */
  allPresentMs: number;
  /** ms until the program has read every page. */
  programDoneMs: number;
  demandFaults: number | null;
  badPages: number;
  /** 1-minute load average when the restore started. */
  load1: number;
}

export interface CriuBench {
  skipped?: string;
  /** When the run started (ISO, UTC), the load averages (1, 5, 15 min) then and at its end, the shuffle's seed. */
  startedAt?: string;
  loadStart?: number[];
  loadEnd?: number[];
  seed?: number;
  /** Pages in each recorded working set (per heap size). */
  recordedPages?: Record<string, number>;
  rounds?: number;
  /** Per heap size and mode, the median of each column over the rounds. */
  rows: CriuRow[];
  /** Every restore, in the order it ran. */
  runs?: CriuRow[];
  /** Per target, the median over the rounds of the ratio within each round. */
  ratios: Record<string, number>;
  /** Per target, the ratio in each round. */
  roundRatios?: Record<string, number[]>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MODES = ['criu restore', 'criu lazy-pages', 'faultc lazy-pages', 'faultc replay'] as const;
const load = (): number[] => loadavg().map((x) => Math.round(x * 100) / 100);

/** The images on disk (fsync) and in the page cache (read through once), the same before every mode. */
function settleImages(img: string): void {
  const buf = Buffer.alloc(1 << 20);
  for (const name of readdirSync(img)) {
    if (!name.endsWith('.img')) continue;
    const fd = openSync(join(img, name), 'r');
    try {
      fsyncSync(fd);
      while (readSync(fd, buf, 0, buf.length, null) > 0);
    } finally {
      closeSync(fd);
    }
  }
}

/** A small seeded shuffle (xorshift32), so that a run's order can be repeated. */
function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let x = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
const realNowNs = (): number => Date.now() * 1e6;

async function pidFree(pid: number): Promise<void> {
  await waitFor(`pid ${pid} to be free`, () => (existsSync(`/proc/${pid}`) ? undefined : true), 120_000);
  await sleep(1000);
}

interface RunOut {
  result: ProgramResult;
  t0: number;
  restoreMs: number;
  daemonMs: number | null;
  demandFaults: number | null;
}

async function restoreOnce(criu: string, img: string, run: string, mode: CriuRow['mode'], ws: string | null): Promise<RunOut> {
  rmSync(join(run, 'result'), { force: true });
  // `criu lazy-pages` leaves its socket behind.
  rmSync(join(img, 'lazy-pages.socket'), { force: true });
  writeFileSync(join(run, 'go'), '');
  settleImages(img);
  let daemonDone: Promise<{ code: number | null; stdout: string; stderr: string }> | null = null;
  let daemonEnd = 0;
  if (mode === 'criu lazy-pages') {
    const p = spawn(criu, ['lazy-pages', '-D', img, '-o', 'lazy.log'], { stdio: 'ignore' });
    daemonDone = new Promise((resolve) => p.once('close', (code) => resolve({ code, stdout: '', stderr: '' })));
    await waitFor('criu lazy-pages socket', () => (existsSync(join(img, 'lazy-pages.socket')) ? true : undefined));
  } else if (mode !== 'criu restore') {
    const d = await startDaemon(img, mode === 'faultc replay' && ws ? ['--replay', ws] : []);
    daemonDone = d.done;
  }
  const wallT0 = realNowNs();
  const t0 = performance.now();
  const lazy = mode === 'criu restore' ? [] : ['--lazy-pages'];
  const r = spawnSync(criu, ['restore', '-D', img, '-d', '-o', 'restore.log', ...lazy], { encoding: 'utf8' });
  const restoreMs = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${mode}: criu restore failed (see ${join(img, 'restore.log')})`);
  let demandFaults: number | null = null;
  let daemonMs: number | null = null;
  if (daemonDone) {
    const out = await daemonDone;
    daemonEnd = performance.now();
    daemonMs = daemonEnd - t0;
    if (out.code !== 0) throw new Error(`${mode}: the daemon exited with ${out.code}: ${out.stderr}`);
    if (out.stdout) {
      const rep = JSON.parse(out.stdout.trim().split('\n').pop()!) as { tasks: { demandFaults: number }[] };
      demandFaults = rep.tasks.reduce((a, t) => a + t.demandFaults, 0);
    }
  }
  const result = await waitFor('the program', () => readJson<ProgramResult>(join(run, 'result')), 300_000);
  await pidFree(result.pid);
  return { result, t0: wallT0, restoreMs, daemonMs, demandFaults };
}

function row(heapMiB: number, round: number, mode: CriuRow['mode'], o: RunOut, load1: number): CriuRow {
  const rel = (ns: number): number => Math.round((ns - o.t0) / 1e4) / 100;
  const first = rel(o.result.start);
  return {
    heapMiB,
    round,
    mode,
    firstInstructionMs: first,
    workingSetMs: rel(o.result.ws),
    allPresentMs: Math.round((o.daemonMs ?? o.restoreMs) * 100) / 100,
    programDoneMs: rel(o.result.all),
    demandFaults: o.demandFaults,
    badPages: o.result.bad,
    load1,
  };
}

/**
 * The working set to replay: a recording restore (every first touch
 * faults) ended with SIGUSR2 once the program has read its working set, so
 * the recording holds that phase only.
 */
async function recordWorkingSet(criu: string, img: string, run: string, ws: string): Promise<number> {
  rmSync(join(run, 'ws-done'), { force: true });
  writeFileSync(join(run, 'go'), '');
  settleImages(img);
  const rec = await startDaemon(img, ['--record', ws]);
  if (spawnSync(criu, ['restore', '-D', img, '-d', '--lazy-pages', '-o', 'restore.log']).status !== 0) throw new Error('recording restore failed');
  const end = Date.now() + 300_000;
  while (!existsSync(join(run, 'ws-done'))) {
    if (Date.now() > end) throw new Error('the recorded program never finished its working set');
    await sleep(2);
  }
  rec.proc.kill('SIGUSR2');
  const out = await rec.done;
  if (out.code !== 0) throw new Error(`the recording daemon exited with ${out.code}: ${out.stderr}`);
  const recorded = await waitFor('the recorded run', () => readJson<ProgramResult>(join(run, 'result')), 300_000);
  if (recorded.bad !== 0) throw new Error(`the recorded run read ${recorded.bad} bad pages`);
  await pidFree(recorded.pid);
  return readJson<{ tasks: { pages: number }[] }>(ws)!.tasks.reduce((a, t) => a + t.pages, 0);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : Math.round(((s[m - 1]! + s[m]!) / 2) * 100) / 100;
};

/** Per heap size and mode, each column's median over the rounds. */
function medianRows(runs: CriuRow[]): CriuRow[] {
  const out: CriuRow[] = [];
  for (const mib of [...new Set(runs.map((r) => r.heapMiB))].sort((a, b) => a - b)) {
    for (const mode of MODES) {
      const rs = runs.filter((r) => r.heapMiB === mib && r.mode === mode);
      if (rs.length === 0) continue;
      const col = (f: (r: CriuRow) => number): number => median(rs.map(f));
      out.push({
        heapMiB: mib,
        round: -1,
        mode,
        firstInstructionMs: col((r) => r.firstInstructionMs),
        workingSetMs: col((r) => r.workingSetMs),
        allPresentMs: col((r) => r.allPresentMs),
        programDoneMs: col((r) => r.programDoneMs),
        demandFaults: rs[0]!.demandFaults === null ? null : col((r) => r.demandFaults ?? 0),
        badPages: Math.max(...rs.map((r) => r.badPages)),
        load1: col((r) => r.load1),
      });
    }
  }
  return out;
}

export async function benchCriu(opts: { sizes?: number[]; seed?: number; rounds?: number } = {}): Promise<CriuBench> {
  const setup = criuOrSkip();
  const criu = setup.criu;
  if (criu === undefined) return { skipped: setup.skip ?? 'no criu', rows: [], ratios: {} };
  const work = mkdtempSync(join(tmpdir(), 'faultc-bench-criu-'));
  const sizes = opts.sizes ?? [100, 1024];
  const seed = opts.seed ?? Date.now() % 1_000_000;
  const startedAt = new Date().toISOString();
  const loadStart = load();
  const rounds = opts.rounds ?? 3;
  const runs: CriuRow[] = [];
  const recordedPages: Record<string, number> = {};
  try {
    const prog = buildFixture('pattern-heap', work);
    const dir = (mib: number) => ({ run: join(work, `run-${mib}`), img: join(work, `img-${mib}`), ws: join(work, `ws-${mib}.json`) });
    for (const mib of sizes) {
      const { run, img, ws } = dir(mib);
      mkdirSync(run, { recursive: true });
      mkdirSync(img, { recursive: true });
      const p = await startProgram([prog, String(mib), run, '1', 'plain'], run);
      await dump(criu, p, img);
      await pidFree(p.pid);
      recordedPages[`${mib}MiB`] = await recordWorkingSet(criu, img, run, ws);
    }
    // Round by round, each round's (size, mode) restores shuffled.
    for (let round = 0; round < rounds; round++) {
      const order = shuffled(
        sizes.flatMap((mib) => MODES.map((mode) => ({ mib, mode }))),
        seed + round,
      );
      for (const { mib, mode } of order) {
        const { run, img, ws } = dir(mib);
        const load1 = load()[0]!;
        runs.push(row(mib, round, mode, await restoreOnce(criu, img, run, mode, ws), load1));
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const roundRatios: Record<string, number[]> = {};
  for (let round = 0; round < rounds; round++) {
    for (const [k, v] of Object.entries(targetRatios(runs.filter((r) => r.round === round)))) (roundRatios[k] ??= []).push(v);
  }
  const ratios = Object.fromEntries(Object.entries(roundRatios).map(([k, v]) => [k, median(v)]));
  return { startedAt, loadStart, loadEnd: load(), seed, rounds, recordedPages, rows: medianRows(runs), runs, ratios, roundRatios };
}

/** The issue's targets as ratios of one round's restores. */
function targetRatios(rows: CriuRow[]): Record<string, number> {
  const ratios: Record<string, number> = {};
  for (const mib of new Set(rows.map((r) => r.heapMiB))) {
    const get = (m: CriuRow['mode']): CriuRow => rows.find((r) => r.heapMiB === mib && r.mode === m)!;
    const eager = get('criu restore');
    const lazy = get('criu lazy-pages');
    const ours = get('faultc lazy-pages');
    const replay = get('faultc replay');
    const r2 = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
    ratios[`${mib}MiB firstInstruction faultc/criuLazy (target <= 1.1)`] = r2(ours.firstInstructionMs, lazy.firstInstructionMs);
    ratios[`${mib}MiB allPresent faultc/criuRestore (target <= 0.8)`] = r2(ours.allPresentMs, eager.allPresentMs);
    ratios[`${mib}MiB allPresent faultc/criuLazy (target <= 0.5)`] = r2(ours.allPresentMs, lazy.allPresentMs);
    ratios[`${mib}MiB workingSet replay/criuLazy (target <= 0.5)`] = r2(replay.workingSetMs, lazy.workingSetMs);
  }
  return ratios;
}

export function formatCriuBench(r: CriuBench): string {
  if (r.skipped) return `criu: skipped: ${r.skipped}\n`;
  const lines = [
    'criu: restore of a pattern-heap program (ms from `criu restore`)',
    `  ${r.startedAt}, load average ${r.loadStart?.join(' ')} at the start, ${r.loadEnd?.join(' ')} at the end; ${r.rounds} rounds, each in shuffled order (seed ${r.seed}); medians; recorded working sets: ${Object.entries(
      r.recordedPages ?? {},
    )
      .map(([k, v]) => `${k} ${v} pages`)
      .join(', ')}`,
    '| heap | mode | first instruction | working set read | every page present | all pages read | demand faults | bad pages | load (1 min) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const x of r.rows) {
    lines.push(
      `| ${x.heapMiB >= 1024 ? `${x.heapMiB / 1024} GiB` : `${x.heapMiB} MiB`} | ${x.mode} | ${x.firstInstructionMs} | ${x.workingSetMs} | ${x.allPresentMs} | ${x.programDoneMs} | ${x.demandFaults ?? 'n/a'} | ${x.badPages} | ${x.load1} |`,
    );
  }
  for (const [k, v] of Object.entries(r.ratios)) {
    const each = r.roundRatios?.[k] ?? [];
    const limit = Number(/<= ([\d.]+)/.exec(k)?.[1]);
    const met = each.filter((x) => x <= limit).length;
    lines.push(`  ${k}: ${v} (rounds: ${each.join(', ')}; met in ${met} of ${each.length})`);
  }
  return lines.join('\n') + '\n';
}

// Direct use: node dist/bench/criu.js [--json] [--sizes 100,1024] [--seed N] [--rounds N]
if (process.argv[1]?.endsWith('criu.js') && import.meta.url.endsWith('/bench/criu.js')) {
  const json = process.argv.includes('--json');
  const i = process.argv.indexOf('--sizes');
  const sizes = i > 0 ? process.argv[i + 1]!.split(',').map(Number) : undefined;
  const k = process.argv.indexOf('--seed');
  const seed = k > 0 ? Number(process.argv[k + 1]) : undefined;
  const n = process.argv.indexOf('--rounds');
  const rounds = n > 0 ? Number(process.argv[n + 1]) : undefined;
  const r = await benchCriu({ ...(sizes ? { sizes } : {}), ...(seed !== undefined ? { seed } : {}), ...(rounds !== undefined ? { rounds } : {}) });
  process.stdout.write(json ? JSON.stringify(r) + '\n' : formatCriuBench(r));
}
