// The kernel engine where a container refuses userfaultfd, under QEMU on the
// patched kernel. One guest boot runs, under test/fixtures/as-container.c
// (a seccomp filter making userfaultfd(2) fail with EPERM, /dev/userfaultfd
// absent from a tmpfs /dev in a mount namespace, CAP_SYS_PTRACE dropped):
//   - test/vm-kernel/guest-engines.ts on the kernel engine over every example
//     whose rules need no userfaultfd, once plainly and once under the
//     wrapper: the same bytes (checked against the evaluator), events,
//     counters and zero-copy mapping both times;
//   - `faultc run` side by side: the uffd engine refused (exit 3, the
//     filter named), the kernel engine and `auto` restoring the snapshot and
//     verifying every byte, and the guard page's SIGBUS (in a child);
//   - the policies whose rules need a userfaultfd (`on write` in tiered.pfp,
//     `defer` in hybrid.pfp) refused at load on the kernel engine, exit 3,
//     the message naming the region, the rules and the filter.
// The guest kernel's log must stay free of warnings throughout.
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicy } from '../../runtime/index.js';
import { asContainer, buildAsContainer } from '../helpers/as-container.js';
import { ensureKernel, repoRoot } from '../setup/kernel.js';
import { outputSection, runInVm, type VmRunResult } from './harness.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('vm-containers: skipped: needs root (qemu, BPF and the mount namespace in the guest run as the caller)');

const here = join(repoRoot, 'test', 'vm-kernel');
const hybrid = join(here, 'hybrid.pfp');
/** The examples whose rules need no userfaultfd (tiered.pfp has `on write` rules). */
const examples = ['debug-guard.pfp', 'snapshot-restore.pfp', 'postcopy.pfp'];
let work = '';
let result: VmRunResult | undefined;

function section(name: string): string[] {
  return outputSection(result?.stdout ?? '', name);
}

/** A CLI run's stdout lines and exit status, and its stderr (marked per section on stderr too). */
function cliRun(name: string): { out: string[]; status: number; err: string } {
  const out = section(name);
  const status = Number(out.find((l) => l.startsWith('status='))?.slice(7) ?? NaN);
  const err = result?.stderr ?? '';
  const start = err.indexOf(`== ${name} ==`);
  const rest = start < 0 ? '' : err.slice(start).split('\n').slice(1).join('\n');
  const end = rest.indexOf('== ');
  return { out: out.filter((l) => !l.startsWith('status=')), status, err: (end < 0 ? rest : rest.slice(0, end)).trim() };
}

beforeAll(async () => {
  if (!isRoot) return;
  ensureKernel();
  execFileSync('node', [join(repoRoot, 'scripts', 'make-example-data.mjs')]);
  work = realpathSync(mkdtempSync(join(tmpdir(), 'faultc-vm-containers-')));
  const wrap = asContainer(buildAsContainer(work)).join(' ');
  // Compiled on the host: the guest finds them in its cache (XDG_CACHE_HOME).
  const cacheDir = join(work, 'xdg', 'faultc', 'policies');
  for (const f of [...examples, 'tiered.pfp', hybrid]) {
    const p = await loadPolicy(f.startsWith('/') ? f : join(repoRoot, 'examples', f), { engine: 'uffd', cacheDir });
    await p.close();
  }
  const engines = `npx vite-node "${here}/guest-engines.ts" -- "${cacheDir}" ${examples.join(' ')}`;
  const cli = `node "${repoRoot}/dist/runtime/cli.js" run`;
  const snapshot = `"${repoRoot}/examples/snapshot-restore.pfp" --region heap --verify`;
  const run = (name: string, cmd: string): string[] => [`echo "== ${name} =="`, `echo "== ${name} ==" >&2`, cmd, 'echo "status=$?"'];
  const lines = [
    'set -u',
    `export XDG_CACHE_HOME="${work}/xdg" GUEST_ENGINES=kernel:1`,
    'echo "== plain =="',
    engines,
    'echo "== filtered =="',
    `${wrap} ${engines}`,
    ...run('uffd', `${wrap} ${cli} ${snapshot} --engine uffd`),
    ...run('kernel', `${wrap} ${cli} ${snapshot} --engine kernel`),
    ...run('auto', `${wrap} ${cli} ${snapshot} --engine auto --json`),
    ...run('guard', `${wrap} ${cli} "${repoRoot}/examples/debug-guard.pfp" --region guard --verify --engine kernel`),
    ...run('tiered', `${wrap} ${cli} "${repoRoot}/examples/tiered.pfp" --region heap --engine kernel`),
    ...run('hybrid', `${wrap} ${cli} "${hybrid}" --region r --engine auto`),
  ];
  // 16 minutes on a loaded 2-core host (TCG); more than 25 when it was busier still.
  result = await runInVm(['sh', '-c', lines.join('\n')], { cwd: repoRoot, shares: [work], timeoutSeconds: 2700, mem: '3G', allowWarnings: true });
}, 3_600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

interface EngineRow {
  case: string;
  engine: string;
  region: string;
  touched: number;
  mismatches: number;
  firstMismatch?: string;
  events: string[];
  stats: unknown;
  mapped: string;
  failed?: string;
}
const rows = (name: string): EngineRow[] =>
  section(name)
    .filter((l) => l.startsWith('ENGINES '))
    .map((l) => JSON.parse(l.slice('ENGINES '.length)) as EngineRow);

const FILTERED =
  'userfaultfd is refused here: a seccomp filter makes userfaultfd(2) fail with EPERM, even with UFFD_USER_MODE_ONLY, which needs no privilege (Seccomp: 2, 1 filter), and /dev/userfaultfd does not exist. ' +
  'Without the filter the call would still be refused: this process lacks CAP_SYS_PTRACE and vm.unprivileged_userfaultfd is 0. ' +
  'Fix: pass the device into the container (docker or podman run --device /dev/userfaultfd): opening it needs neither userfaultfd(2) nor CAP_SYS_PTRACE; ' +
  'or allow userfaultfd in the seccomp profile (--security-opt seccomp=<profile>) and grant CAP_SYS_PTRACE (--cap-add SYS_PTRACE); or ';

describe.skipIf(!isRoot)('kernel engine where a container refuses userfaultfd (guest)', () => {
  it('the guest ran every part and its kernel logged no warning', () => {
    expect(result, 'no guest run').toBeDefined();
    expect(result?.dmesgProblems ?? ['no run'], result?.stderr).toEqual([]);
    expect(result?.status, result?.stderr).toBe(0);
  });

  for (const c of examples) {
    it(`${c}: under the filter the same bytes, events, counters and mapping as without it`, () => {
      const plain = rows('plain').filter((r) => r.case === c);
      const filtered = rows('filtered').filter((r) => r.case === c);
      expect([...plain, ...filtered].filter((r) => r.failed).map((r) => r.failed)).toEqual([]);
      expect(plain.length).toBeGreaterThan(0);
      expect(filtered.map((r) => r.region)).toEqual(plain.map((r) => r.region));
      expect(filtered.some((r) => r.touched > 0)).toBe(true);
      for (const f of filtered) {
        const p = plain.find((r) => r.region === f.region);
        expect(f.engine).toBe('kernel');
        expect(f.touched).toBe(p?.touched);
        expect(f.mismatches, `${f.region}: ${f.firstMismatch ?? ''}`).toBe(0);
        expect(p?.mismatches).toBe(0);
        expect(f.events).toEqual(p?.events);
        expect(f.stats).toEqual(p?.stats);
        expect(f.mapped).toBe(p?.mapped);
      }
    });
  }

  it('faultc run, the uffd engine: exit 3, the filter named with its fixes', () => {
    const r = cliRun('uffd');
    expect(r.err).toBe(
      `faultc run: ${FILTERED}use the kernel engine, which this kernel has (--engine kernel or --engine auto; it needs CAP_BPF, and a userfaultfd only for \`defer\` and \`on write\` rules).`,
    );
    expect(r.out).toEqual([]);
    expect(r.status).toBe(3);
  });

  it('faultc run, the kernel engine and auto under the same filter: the snapshot restored and every byte verified', () => {
    const k = cliRun('kernel');
    expect(k.err).toBe('');
    expect(k.status).toBe(0);
    expect(k.out).toContain('verified 16384 pages byte for byte against the policy and its sources: ok');
    expect(k.out[0]).toMatch(/engine kernel/);
    // The closing note's side by side: the same filter, both engines.
    console.log(['uffd engine:', cliRun('uffd').err, `exit status ${cliRun('uffd').status}`, '', 'kernel engine:', ...k.out, `exit status ${k.status}`].join('\n'));
    const a = cliRun('auto');
    expect(a.status).toBe(0);
    const report = JSON.parse(a.out.join('\n')) as { engine: string; verify: { pages: number; mismatches: unknown[] } };
    expect(report.engine).toBe('kernel');
    expect(report.verify).toEqual({ pages: 16384, mismatches: [] });
  });

  it('faultc run, the guard page under the filter: SIGBUS in a child, as the policy says', () => {
    const g = cliRun('guard');
    expect(g.status).toBe(0);
    expect(g.out).toContain('checked in a child process: touching page 0 raised SIGBUS, as the policy says');
  });

  it('`on write` and `defer` rules on the kernel engine: refused at load, exit 3, naming the region, the rules and the filter', () => {
    const fix = 'leave the `defer` and `on write` rules out of the policy (the kernel engine needs no userfaultfd without them).';
    const t = cliRun('tiered');
    expect(t.err).toBe(`faultc run: policy tiered: region heap has \`on write\` rules, which the kernel engine serves through a userfaultfd: ${FILTERED}${fix}`);
    expect(t.out).toEqual([]);
    expect(t.status).toBe(3);
    const h = cliRun('hybrid');
    expect(h.err).toBe(`faultc run: policy hybrid: region r has \`defer\` rules, which the kernel engine serves through a userfaultfd: ${FILTERED}${fix}`);
    expect(h.status).toBe(3);
  });
});
