// The adversarial suite: hostile inputs against the CLI and the Node API
// (test/runtime/adversarial/cases.ts), each in its own process, each with the exit
// status (or signal) and the words it must end with. Special files, huge
// regions, numbers out of range, runs without privilege (setpriv), signals,
// dropped policies counted in fds and threads, listeners that throw.
// Prints how many cases were tried and how many survived.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hasBpfPrivilege } from '../../../runtime/bpf/privilege.js';
import { repoRoot, skipReason, tempDir } from '../../helpers/uffd.js';
import { API_CASES, CLI_CASES, type ApiCase, type CliCase, type Runner } from './cases.js';

const skip = skipReason('adversarial');
const bpf = !skip && hasBpfPrivilege();
const cliJs = join(repoRoot, 'dist', 'runtime', 'cli.js');
const NOBODY = 65534;
const nobodyReads = !skip && spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'test', '-r', cliJs]).status === 0;
if (!skip && !bpf) console.warn('adversarial: trace cases skipped: loading BPF programs needs CAP_BPF and CAP_PERFMON');
if (!skip && !nobodyReads) console.warn('adversarial: unprivileged cases skipped: user nobody cannot read this checkout');

let dir = '';
let socketServer: Server | undefined;
const tally = { tried: 0, survived: 0 };

beforeAll(async () => {
  if (skip) return;
  dir = tempDir('faultc-adversarial-');
  chmodSync(dir, 0o755); // nobody reaches its policies
  for (const f of ['fifo', 'fifo.policy.json']) spawnSync('mkfifo', [join(dir, f)]);
  symlinkSync(join(dir, 'fifo'), join(dir, 'fifo-link'));
  symlinkSync(join(dir, 'loop2'), join(dir, 'loop1'));
  symlinkSync(join(dir, 'loop1'), join(dir, 'loop2'));
  mkdirSync(join(dir, 'adir'));
  spawnSync('truncate', ['-s', '10G', join(dir, 'sparse.pfp')]);
  writeFileSync(join(dir, 'secret.pfp'), 'policy p {\n  region r size 1 page { on missing { zero } }\n}\n', { mode: 0o600 });
  writeFileSync(join(dir, 'at0.pfp'), 'policy z {\n  region r size 1 page at 0 { on missing { zero } }\n}\n');
  mkdirSync(join(dir, 'nobody-cache'));
  chownSync(join(dir, 'nobody-cache'), NOBODY, NOBODY);
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(join(dir, 'sock'), resolve));
  socketServer = server;
});

afterAll(() => {
  socketServer?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (!skip) console.log(`adversarial: ${tally.tried} tried, ${tally.survived} survived`);
});

/** `@/name` in the scratch folder (also as `id=@/name`), `@/size:<size>` a policy of one region that size, `examples/...` in the repo. */
function resolvePath(arg: string): string {
  const assigned = /^(\w+=)(@\/.*)$/.exec(arg);
  if (assigned) return assigned[1]! + resolvePath(assigned[2]!);
  const size = /^@\/size:(.+)$/.exec(arg);
  if (size) {
    const file = join(dir, `size-${size[1]!.replace(/\W+/g, '-')}.pfp`);
    writeFileSync(file, `policy big {\n  region r size ${size[1]} { on missing { zero } }\n}\n`);
    return file;
  }
  if (arg.startsWith('@/')) return join(dir, arg.slice(2));
  if (arg.startsWith('examples/')) return join(repoRoot, arg);
  return arg;
}

function resolveArgs<T>(v: T): T {
  if (typeof v === 'string') return resolvePath(v) as T;
  if (Array.isArray(v)) return v.map(resolveArgs) as T;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolveArgs(x)])) as T;
  return v;
}

function command(runner: Runner, argv: string[]): string[] {
  const as = [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];
  if (runner === 'nobody') return ['setpriv', ...as, process.execPath, cliJs, ...argv];
  if (runner === 'nobody+bpf') return ['setpriv', ...as, '--inh-caps=+bpf,+perfmon', '--ambient-caps=+bpf,+perfmon', process.execPath, cliJs, ...argv];
  return [process.execPath, cliJs, ...argv];
}

interface Ended {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function rssKib(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Whether faultc is busy: the pids of its children of that name, or its memory past the mark. */
function busy(pid: number, when: NonNullable<CliCase['signal']>['when']): number[] | null {
  try {
    if ('child' in when) {
      const r = spawnSync('pgrep', ['-P', String(pid), '-x', when.child], { encoding: 'utf8' });
      return r.status === 0 ? r.stdout.trim().split('\n').map(Number) : null;
    }
    return rssKib(pid) > when.rssKib ? [] : null;
  } catch {
    return null;
  }
}

/** Runs the case; a hang is ended by SIGKILL after 30 s (and fails the case). */
async function runCli(c: CliCase): Promise<Ended> {
  const [cmd, ...args] = command(c.as ?? 'self', resolveArgs(c.argv));
  const env = { ...process.env, XDG_CACHE_HOME: join(dir, c.as && c.as !== 'self' ? 'nobody-cache' : 'xdg'), ...c.env };
  const p = spawn(cmd!, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // 'exit', not 'close': a command left running after faultc holds its pipes.
  const ended = new Promise<Ended>((resolve) =>
    p.on('exit', (status, signal) => setTimeout(() => resolve({ status, signal, stdout, stderr }), 300)),
  );
  const killer = setTimeout(() => p.kill('SIGKILL'), 30_000);
  let started: number[] = [];
  if (c.signal && p.pid !== undefined) {
    let exited = false;
    void ended.then(() => (exited = true));
    for (let i = 0; i < 200 && !exited; i++) {
      const found = busy(p.pid, c.signal.when);
      if (found) {
        started = found;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!exited) p.kill(c.signal.name);
  }
  const r = await ended;
  clearTimeout(killer);
  // A command that ignored the signal was left running by faultc: end it here.
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
  return r;
}

function skipCase(c: { as?: Runner; needsBpf?: boolean }): boolean {
  return skip || (c.needsBpf === true && !bpf) || ((c.as === 'nobody' || c.as === 'nobody+bpf') && !nobodyReads);
}

const groups = (cases: { group: string }[]) => [...new Set(cases.map((c) => c.group))];

for (const group of groups(CLI_CASES)) {
  describe(`adversarial CLI: ${group}`, () => {
    for (const c of CLI_CASES.filter((x) => x.group === group)) {
      test.skipIf(skipCase(c))(c.name, async () => {
        tally.tried++;
        const r = await runCli(c);
        if (c.expect.signal) expect(r.signal).toBe(c.expect.signal);
        else expect({ status: r.status, signal: r.signal }).toEqual({ status: c.expect.status, signal: null });
        if (c.expect.stderr) expect(r.stderr).toMatch(c.expect.stderr);
        if (c.expect.stdout) expect(r.stdout).toMatch(c.expect.stdout);
        expect(r.stderr).not.toMatch(/FATAL ERROR|double free|Segmentation|Aborted/);
        tally.survived++;
      });
    }
  });
}

function runApi(c: ApiCase): Ended & { out: Record<string, unknown> | null } {
  const script = join(repoRoot, 'test', 'fixtures', 'reliability-child.mjs');
  const args = JSON.stringify({ cacheDir: join(dir, 'cache'), ...resolveArgs(c.args ?? {}) });
  const r = spawnSync(process.execPath, [...(c.countsBack ? ['--expose-gc'] : []), script, c.scenario, args], { encoding: 'utf8', timeout: 30_000 });
  const line = r.stdout.trim().split('\n').pop();
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, out: line ? (JSON.parse(line) as Record<string, unknown>) : null };
}

for (const group of groups(API_CASES)) {
  describe(`adversarial API: ${group}`, () => {
    for (const c of API_CASES.filter((x) => x.group === group)) {
      test.skipIf(skip)(c.name, () => {
        tally.tried++;
        const r = runApi(c);
        expect({ status: r.status, signal: r.signal }).toEqual({ status: 0, signal: null });
        expect(r.stderr).not.toMatch(/FATAL ERROR|double free|DEP0168/);
        expect(r.out).toMatchObject(c.expect);
        if (c.countsBack) expect(r.out?.after).toEqual(r.out?.before);
        tally.survived++;
      });
    }
  });
}
