// `npm run bench -- --only criu`: restoring a real process dumped by CRIU,
// four ways over the same images in one run: `criu restore` (every page
// before the first instruction), `criu lazy-pages`, `faultc lazy-pages`, and
// faultc replaying a recorded working set. The program (test/fixtures/criu/
// pattern-heap.c) reads a tenth of its pages at random, then all of them,
// checking every word. Times are from the start of `criu restore`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
}

export interface CriuBench {
  skipped?: string;
  rows: CriuRow[];
  ratios: Record<string, number>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
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

function row(heapMiB: number, mode: CriuRow['mode'], o: RunOut): CriuRow {
  const rel = (ns: number): number => Math.round((ns - o.t0) / 1e4) / 100;
  const first = rel(o.result.start);
  return {
    heapMiB,
    mode,
    firstInstructionMs: first,
    workingSetMs: rel(o.result.ws),
    allPresentMs: Math.round((o.daemonMs ?? o.restoreMs) * 100) / 100,
    programDoneMs: rel(o.result.all),
    demandFaults: o.demandFaults,
    badPages: o.result.bad,
  };
}

export async function benchCriu(opts: { sizes?: number[] } = {}): Promise<CriuBench> {
  const setup = criuOrSkip();
  const criu = setup.criu;
  if (criu === undefined) return { skipped: setup.skip ?? 'no criu', rows: [], ratios: {} };
  const work = mkdtempSync(join(tmpdir(), 'faultc-bench-criu-'));
  const rows: CriuRow[] = [];
  try {
    const prog = buildFixture('pattern-heap', work);
    for (const mib of opts.sizes ?? [100, 1024]) {
      const run = join(work, `run-${mib}`);
      const img = join(work, `img-${mib}`);
      mkdirSync(run, { recursive: true });
      mkdirSync(img, { recursive: true });
      const p = await startProgram([prog, String(mib), run, '1', 'plain'], run);
      await dump(criu, p, img);
      await pidFree(p.pid);
      // The working set to replay: a recording restore (no prefetch, no background).
      const ws = join(work, `ws-${mib}.json`);
      const rec = await startDaemon(img, ['--record', ws]);
      writeFileSync(join(run, 'go'), '');
      if (spawnSync(criu, ['restore', '-D', img, '-d', '--lazy-pages', '-o', 'restore.log']).status !== 0) throw new Error('recording restore failed');
      await rec.done;
      const recorded = await waitFor('the recorded run', () => readJson<ProgramResult>(join(run, 'result')));
      await pidFree(recorded.pid);
      for (const mode of ['criu restore', 'criu lazy-pages', 'faultc lazy-pages', 'faultc replay'] as const) {
        rows.push(row(mib, mode, await restoreOnce(criu, img, run, mode, ws)));
      }
      rmSync(img, { recursive: true, force: true });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
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
  return { rows, ratios };
}

export function formatCriuBench(r: CriuBench): string {
  if (r.skipped) return `criu: skipped: ${r.skipped}\n`;
  const lines = [
    'criu: restore of a pattern-heap program (ms from `criu restore`)',
    '| heap | mode | first instruction | working set read | every page present | all pages read | demand faults | bad pages |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const x of r.rows) {
    lines.push(
      `| ${x.heapMiB >= 1024 ? `${x.heapMiB / 1024} GiB` : `${x.heapMiB} MiB`} | ${x.mode} | ${x.firstInstructionMs} | ${x.workingSetMs} | ${x.allPresentMs} | ${x.programDoneMs} | ${x.demandFaults ?? 'n/a'} | ${x.badPages} |`,
    );
  }
  for (const [k, v] of Object.entries(r.ratios)) lines.push(`  ${k}: ${v}`);
  return lines.join('\n') + '\n';
}

// Direct use: node dist/bench/criu.js [--json] [--sizes 100,1024]
if (process.argv[1]?.endsWith('criu.js') && import.meta.url.endsWith('/bench/criu.js')) {
  const json = process.argv.includes('--json');
  const i = process.argv.indexOf('--sizes');
  const sizes = i > 0 ? process.argv[i + 1]!.split(',').map(Number) : undefined;
  const r = await benchCriu(sizes ? { sizes } : {});
  process.stdout.write(json ? JSON.stringify(r) + '\n' : formatCriuBench(r));
}
