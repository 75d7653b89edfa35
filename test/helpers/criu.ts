// Real CRIU for the tests and the bench: built once by scripts/criu.sh into
// the cache, programs started detached with /dev/null stdio (what `criu dump`
// needs), dumped, and restored with a lazy-pages daemon.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { packageRoot } from '../../runtime/engines/native.js';

export const repoRoot = packageRoot;
const cli = join(repoRoot, 'dist', 'runtime', 'cli.js');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The criu binary, or why the CRIU tests cannot run here. */
export function criuOrSkip(): { criu: string; skip?: undefined } | { criu?: undefined; skip: string } {
  if (process.getuid?.() !== 0) return { skip: 'criu dump/restore needs root' };
  const r = spawnSync('bash', [join(repoRoot, 'scripts', 'criu.sh')], { encoding: 'utf8', timeout: 900_000 });
  if (r.status === 2) return { skip: `no CRIU source to build: ${r.stderr.trim()}` };
  if (r.status !== 0) throw new Error(`scripts/criu.sh failed:\n${r.stderr}`);
  const criu = r.stdout.trim();
  const check = spawnSync(criu, ['check', '--feature', 'uffd-noncoop'], { encoding: 'utf8' });
  if (check.status !== 0) return { skip: `this kernel lacks non-cooperative userfaultfd: ${check.stdout}${check.stderr}` };
  return { criu };
}

/** Compiles test/fixtures/criu/<name>.c into dir. */
export function buildFixture(name: string, dir: string): string {
  const out = join(dir, name);
  const r = spawnSync('gcc', ['-O2', '-Wall', '-o', out, join(repoRoot, 'test', 'fixtures', 'criu', `${name}.c`)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gcc ${name}.c: ${r.stderr}`);
  return out;
}

export async function waitFor<T>(what: string, f: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export function readJson<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export interface Started {
  pid: number;
  child: ChildProcess;
  exited: Promise<void>;
}

/** Starts argv in its own session with /dev/null stdio; waits for runDir/ready. */
export async function startProgram(argv: string[], runDir: string): Promise<Started> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore', detached: true });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await waitFor('the program to be ready', () => readJson<{ pid: number }>(join(runDir, 'ready')));
  if (ready.pid !== child.pid) throw new Error(`ready names pid ${ready.pid}, started ${child.pid}`);
  return { pid: ready.pid, child, exited };
}

/** criu dump; waits until the dumped process is reaped, so its pid is free for the restore. */
export async function dump(criu: string, p: Started, imgDir: string): Promise<void> {
  const r = spawnSync(criu, ['dump', '-t', String(p.pid), '-D', imgDir, '-o', 'dump.log'], { encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL' });
  if (r.status !== 0) throw new Error(`criu dump failed:\n${readFileSync(join(imgDir, 'dump.log'), 'utf8').slice(-3000)}`);
  await p.exited;
  await sleep(300);
}

export interface Daemon {
  proc: ChildProcess;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** `faultc lazy-pages -D imgDir ...args`; resolves once the socket exists (or the daemon ended). */
export async function startDaemon(imgDir: string, args: string[] = []): Promise<Daemon> {
  const proc = spawn(process.execPath, [cli, 'lazy-pages', '-D', imgDir, '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  let ended = false;
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    proc.once('close', (code) => {
      ended = true;
      resolve({ code, stdout, stderr });
    }),
  );
  await waitFor('the lazy-pages socket', () => (existsSync(join(imgDir, 'lazy-pages.socket')) || ended ? true : undefined));
  return { proc, done };
}

/** The lines of a CRIU log worth showing: its errors and warnings, then its tail. */
export function criuLogExcerpt(path: string, tail = 40): string {
  if (!existsSync(path)) return `(no ${path})`;
  const lines = readFileSync(path, 'utf8').split('\n');
  const errors = lines.filter((l) => /^\(?[\d.\s]*\)?\s*(Error|Warn)/.test(l) || /Error \(/.test(l)).slice(-20);
  return [`${path}: ${errors.length} error/warning lines`, ...errors, `--- last ${tail} lines ---`, ...lines.slice(-tail)].join('\n');
}

export interface Restored {
  status: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  log: string;
}

/**
 * `criu restore -D imgDir -d --lazy-pages` (debug log: restore.log). Never
 * hangs: past timeoutMs it is killed and reported as timed out, with the
 * restore log's errors and tail in `log`.
 */
export async function restore(criu: string, imgDir: string, extra: string[] = [], timeoutMs = 60_000): Promise<Restored> {
  const logPath = join(imgDir, 'restore.log');
  const child = spawn(criu, ['restore', '-D', imgDir, '-d', '--lazy-pages', '-v4', '-o', 'restore.log', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  const head = timedOut ? `criu restore did not return within ${timeoutMs} ms (killed)\n` : `criu restore: status ${status}${signal ? ` signal ${signal}` : ''}\n`;
  return { status, signal, timedOut, log: head + stderr + criuLogExcerpt(logPath) };
}

/** A restore that must succeed: its failure or hang throws with CRIU's log. */
export async function restoreOk(criu: string, imgDir: string, extra: string[] = []): Promise<void> {
  const r = await restore(criu, imgDir, extra);
  if (r.status !== 0) throw new Error(r.log);
}

/** What a restored program is doing, for a message about a hang. */
export function processState(pid: number): string {
  const read = (f: string): string => {
    try {
      return readFileSync(`/proc/${pid}/${f}`, 'utf8').trim();
    } catch {
      return '-';
    }
  };
  return `pid ${pid}: stat ${read('stat').split(' ').slice(0, 3).join(' ')}, wchan ${read('wchan')}`;
}

/**
 * The daemon's end, within timeoutMs: past it the daemon is stopped and
 * this throws with its stderr, the restore log and the restored program's
 * state, so that a restore that hangs fails fast and says where.
 */
export async function daemonEnd(daemon: Daemon, ctx: { img: string; pid?: number }, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
  const out = await Promise.race([daemon.done, late]);
  clearTimeout(timer);
  if (out !== 'late') return out;
  const state = ctx.pid ? processState(ctx.pid) : '';
  // The restored program goes first: a daemon stopped with pages missing
  // leaves its holder in charge until the program exits.
  if (ctx.pid) {
    try {
      process.kill(ctx.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  daemon.proc.kill('SIGTERM');
  const ended = await Promise.race([daemon.done, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000))]);
  if (!ended) daemon.proc.kill('SIGKILL');
  throw new Error(
    [
      `faultc lazy-pages did not finish within ${timeoutMs} ms`,
      state,
      `daemon stderr: ${ended?.stderr ?? '(killed)'}`,
      `daemon stdout: ${ended?.stdout.slice(-2000) ?? ''}`,
      criuLogExcerpt(join(ctx.img, 'restore.log')),
    ].join('\n'),
  );
}

export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}
