// Run-time page sets: `set <name>` and `<page> in <name>` through the
// checker (codes, locations), the reference evaluator (`faultc explain --in`),
// the generated C (the decide.so's set table) and libfaultc (a C program
// linked against native/include/faultc.h, on the real uffd engine).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource } from '../../compiler/index.js';
import { expectUseLibOutput } from '../helpers/use-lib.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'runtime', 'cli.js');
const release = join(root, 'native', 'build', 'Release');
const fixtures = join(root, 'test', 'fixtures', 'libfaultc');
const dir = mkdtempSync(join(tmpdir(), 'faultc-sets-test-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: dir });
}

describe('checking', () => {
  it('reports misuse with codes and locations', async () => {
    const text = 'policy p {\n  set s\n  set t\n  region r size 1 MiB {\n    on missing { if s { zero } else if page in r { zero } else if page in nope { zero } else { fill 1 } }\n  }\n}\n';
    const r = await checkSource(text, 'bad.pfp');
    const got = r.diagnostics.map((d) => `${d.code} ${d.span.startLine}:${d.span.startColumn}`);
    expect(got).toEqual(expect.arrayContaining(['PFP3018 5:21', 'PFP3019 5:48', 'PFP3019 5:75', 'PFP3021 3:7']));
    expect(r.ok).toBe(false);
  });

  it('more than 8 sets is PFP3020; a set named like a region is PFP3002', async () => {
    const sets = Array.from({ length: 9 }, (_, i) => `  set s${i}`).join('\n');
    const r = await checkSource(`policy p {\n  set r\n${sets}\n  region r size 1 MiB { on missing { zero } }\n}\n`, 'many.pfp');
    const codes = r.diagnostics.map((d) => d.code);
    expect(codes).toContain('PFP3020');
    expect(codes).toContain('PFP3002');
  });

  it('a policy with sets runs on every engine (kernel: the program\'s set maps, filled through the API)', async () => {
    const r = await checkSource('policy p {\n  set g\n  region r size 1 MiB { on missing { if page in g { sigbus } else { zero } } }\n}\n', 'ok.pfp');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.policies[0]!.engines).toEqual(['kernel', 'uffd', 'trace']);
    expect(r.value.policies[0]!.sets?.map((s) => s.id)).toEqual(['g']);
  });
});

describe('explain', () => {
  it('--in puts the faulting page in a set; without it every set is empty', () => {
    const policy = join(root, 'native', 'guard', 'guard.pfp');
    const inSet = run(['explain', policy, '--offset', '8KiB', '--in', 'guards', '--json']);
    expect(inSet.status).toBe(0);
    const a = JSON.parse(inSet.stdout) as { decision: { action: string; notify: boolean }; path: { condition?: string }[] };
    expect(a.decision.action).toBe('sigbus');
    expect(a.decision.notify).toBe(true);
    expect(a.path[0]!.condition).toBe('true');
    const out = run(['explain', policy, '--offset', '8KiB', '--json']);
    expect((JSON.parse(out.stdout) as { decision: { action: string } }).decision.action).toBe('zero');
    const bad = run(['explain', policy, '--in', 'nope']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("has no set 'nope' (it has: guards)");
  });
});

describe('libfaultc', () => {
  it('a C program maps a region, marks pages and gets SIGBUS exactly there, with stats and events', () => {
    const compiled = run(['compile', join(fixtures, 'marked.pfp'), '-o', join(dir, 'out')]);
    expect(compiled.status).toBe(0);
    const nm = spawnSync('nm', ['-D', join(dir, 'out', 'marked.decide.so')], { encoding: 'utf8' });
    expect(nm.stdout).toMatch(/ B faultc_sets\n/);
    expect(existsSync(join(release, 'libfaultc.so'))).toBe(true);
    const exe = join(dir, 'use_lib');
    const cc = spawnSync('cc', ['-O1', '-g', `-I${join(root, 'native', 'include')}`, '-o', exe, join(fixtures, 'use_lib.c'), `-L${release}`, '-lfaultc', `-Wl,-rpath,${release}`], { encoding: 'utf8' });
    expect(cc.stderr).toBe('');
    const r = spawnSync(exe, [join(dir, 'out', 'marked')], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expectUseLibOutput(r.stdout.split('\n'));
  });
});

it('the sets example compiles through the whole pipeline (BPF objects included)', () => {
  const p = join(dir, 'sets.pfp');
  writeFileSync(p, 'policy s {\n  set a\n  set b\n  region r size 4 MiB { on missing { if page in a or (page + 1) in b { sigbus notify } else { zero } } }\n}\n');
  const r = run(['compile', p, '-o', join(dir, 'sets-out')]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  for (const f of ['s.fault.bpf.o', 's.trace.bpf.o', 's.decide.so']) expect(existsSync(join(dir, 'sets-out', f))).toBe(true);
});
