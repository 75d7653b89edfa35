// `npm run bench -- --only guard`: the sqlite3 workload of docs/guard.md
// (20,000 inserts in one transaction, an index, two queries) plain, under
// Electric Fence (Debian electric-fence) and under `faultc guard` (uffd
// engine), interleaved in one run. Each figure is the median of the reps;
// overhead is the time over the plain run's, and the target is faultc
// guard's overhead at most 1/5 of efence's. Wall time on this shared machine
// follows the load; CPU time (user + system) less so: both are reported.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_GUARD_POLICY, guardEnv, prepareGuardPolicy } from '../runtime/cli/guard.js';
import { median } from './section.js';

const EFENCE = '/usr/lib/libefence.so.0.0';
const ROWS = 20_000;
const REPS = 3;

interface Measure {
  wall: number;
  cpu: number;
  minflt: number;
}

export interface GuardBenchRow {
  name: string;
  wallS: number;
  cpuS: number;
  minorFaults: number;
  /** Over efence's, wall and CPU. */
  wallOverheadVsEfence?: number;
  cpuOverheadVsEfence?: number;
}

export interface GuardBenchResult {
  rows: GuardBenchRow[];
  reps: number;
  target: { maxOverheadVsEfence: number; metWall: boolean; metCpu: boolean };
  skipped?: string;
}

function workload(): string {
  const sql = ['PRAGMA journal_mode=OFF;', 'CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL);', 'BEGIN;'];
  for (let i = 0; i < ROWS; i++) sql.push(`INSERT INTO t(name, v) VALUES ('name-${(i * 7919) % ROWS}', ${i * 0.5});`);
  sql.push('COMMIT;', 'CREATE INDEX t_name ON t(name);', "SELECT count(*), sum(v) FROM t WHERE name LIKE 'name-1%';", 'SELECT name FROM t ORDER BY name DESC LIMIT 3;');
  return sql.join('\n') + '\n';
}

/** One sqlite3 run under /usr/bin/time; its stdout must be `expect` when given. */
function once(dir: string, script: string, env: NodeJS.ProcessEnv, expect?: string): { m: Measure; out: string } {
  const db = join(dir, 'bench.db');
  rmSync(db, { force: true });
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %e %U %S %R', 'sqlite3', db], { input: script, encoding: 'utf8', env, maxBuffer: 1 << 26 });
  const t = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr);
  if (r.status !== 0 || !t) throw new Error(`sqlite3 failed (${r.status}): ${r.stderr.slice(-500)}`);
  if (expect !== undefined && r.stdout !== expect) throw new Error(`sqlite3's output differs from the plain run's:\n${r.stdout}`);
  return { m: { wall: Number(t[1]), cpu: Number(t[2]) + Number(t[3]), minflt: Number(t[4]) }, out: r.stdout };
}

export async function benchGuard(_opts: { pages: number }): Promise<GuardBenchResult> {
  const target = { maxOverheadVsEfence: 0.2, metWall: false, metCpu: false };
  for (const need of ['/usr/bin/time', EFENCE]) {
    if (!existsSync(need)) return { rows: [], reps: 0, target, skipped: `${need} is missing (scripts/setup.sh installs time and electric-fence)` };
  }
  if (spawnSync('sh', ['-c', 'command -v sqlite3']).status !== 0) return { rows: [], reps: 0, target, skipped: 'sqlite3 is missing' };
  const prepared = await prepareGuardPolicy(DEFAULT_GUARD_POLICY);
  if (!prepared.ok) throw new Error(prepared.message);
  const dir = mkdtempSync(join(tmpdir(), 'faultc-bench-guard-'));
  try {
    const script = workload();
    const plainEnv = { ...process.env };
    const expect = once(dir, script, plainEnv).out;
    const configs: [string, NodeJS.ProcessEnv][] = [
      ['plain', plainEnv],
      ['efence', { ...process.env, LD_PRELOAD: EFENCE, EF_DISABLE_BANNER: '1' }],
      ['faultc guard (8-frame sites)', guardEnv(prepared, { underflow: false, keepGoing: false, align: 16, frames: 8 })],
      ['faultc guard --frames 0', guardEnv(prepared, { underflow: false, keepGoing: false, align: 16, frames: 0 })],
    ];
    const runs = new Map<string, Measure[]>(configs.map(([n]) => [n, []]));
    for (let rep = 0; rep < REPS; rep++) {
      for (const [name, env] of configs) runs.get(name)!.push(once(dir, script, env, expect).m);
    }
    const med = (name: string): Measure => {
      const ms = runs.get(name)!;
      return { wall: median(ms.map((m) => m.wall)), cpu: median(ms.map((m) => m.cpu)), minflt: median(ms.map((m) => m.minflt)) };
    };
    const plain = med('plain');
    const ef = med('efence');
    const rows: GuardBenchRow[] = configs.map(([name]) => {
      const m = med(name);
      const row: GuardBenchRow = { name, wallS: m.wall, cpuS: m.cpu, minorFaults: m.minflt };
      if (name.startsWith('faultc')) {
        row.wallOverheadVsEfence = (m.wall - plain.wall) / Math.max(1e-9, ef.wall - plain.wall);
        row.cpuOverheadVsEfence = (m.cpu - plain.cpu) / Math.max(1e-9, ef.cpu - plain.cpu);
      }
      return row;
    });
    const main = rows[2]!;
    target.metWall = (main.wallOverheadVsEfence ?? Infinity) <= target.maxOverheadVsEfence;
    target.metCpu = (main.cpuOverheadVsEfence ?? Infinity) <= target.maxOverheadVsEfence;
    return { rows, reps: REPS, target };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatGuardBench(r: GuardBenchResult): string {
  if (r.skipped) return `guard: skipped: ${r.skipped}`;
  const lines = [`guard: sqlite3, ${ROWS} inserts + an index + 2 queries, median of ${r.reps} (outputs equal to the plain run's)`];
  lines.push('  run                              wall s   cpu s   minor faults   overhead / efence (wall, cpu)');
  for (const row of r.rows) {
    const over = row.wallOverheadVsEfence === undefined ? '' : `${row.wallOverheadVsEfence.toFixed(3)}, ${row.cpuOverheadVsEfence!.toFixed(3)}`;
    lines.push(`  ${row.name.padEnd(32)} ${row.wallS.toFixed(2).padStart(6)} ${row.cpuS.toFixed(2).padStart(7)} ${String(row.minorFaults).padStart(14)}   ${over}`);
  }
  const t = r.target;
  lines.push(`  target: faultc guard's overhead <= ${t.maxOverheadVsEfence} of efence's: wall ${t.metWall ? 'met' : 'missed'}, cpu ${t.metCpu ? 'met' : 'missed'}`);
  return lines.join('\n');
}
