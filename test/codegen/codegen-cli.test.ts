// `faultc compile` as a user runs it: the built CLI (dist/, made by the test
// set-up) on real files, checking outputs, exit statuses and --json.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { readManifest } from '../../codegen/manifest.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'runtime', 'cli.js');
const work = mkdtempSync(join(tmpdir(), 'faultc-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function faultc(args: string[], cwd = work, env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('faultc compile', () => {
  test('an example compiles into -o with every artifact and a readable manifest', async () => {
    const out = join(work, 'tiered-out');
    const r = faultc(['compile', join(root, 'examples', 'tiered.pfp'), '-o', out]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(readdirSync(out).sort()).toEqual([
      'tiered.abi.h',
      'tiered.decide.h',
      'tiered.decide.so',
      'tiered.fault.bpf.c',
      'tiered.fault.bpf.o',
      'tiered.policy.json',
      'tiered.trace.bpf.c',
      'tiered.trace.bpf.o',
    ]);
    expect(r.stdout.trim().split('\n')).toContain(join(out, 'tiered.policy.json'));
    const m = await readManifest(join(out, 'tiered.policy.json'));
    expect(m.policy).toBe('tiered');
    expect(m.regions).toEqual([{ id: 'heap', index: 0, size: 8n << 20n }]);
    expect(m.sources[0]?.resolvedPath).toBe(join(root, 'examples', 'heap.img'));
  });

  test('the default output folder is ./out', () => {
    const cwd = mkdtempSync(join(work, 'cwd-'));
    const r = faultc(['compile', join(root, 'examples', 'debug-guard.pfp'), '--emit', 'c'], cwd);
    expect(r.status).toBe(0);
    expect(readdirSync(join(cwd, 'out')).sort()).toEqual([
      'debug_guard.abi.h',
      'debug_guard.decide.h',
      'debug_guard.fault.bpf.c',
      'debug_guard.trace.bpf.c',
    ]);
  });

  test('a bad policy: exit 1, the diagnostic with file:line:col, nothing written', () => {
    const bad = join(work, 'bad.pfp');
    writeFileSync(bad, 'policy p {\n  region r size 4 KiB {\n    on missing { fill 300 }\n  }\n}\n');
    const out = join(work, 'bad-out');
    const r = faultc(['compile', bad, '-o', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/bad\.pfp:3:\d+: error PFP\d{4}/);
    expect(r.stdout).toBe('');
    expect(existsSync(out)).toBe(false);
  });

  test('--json gives a machine-readable result either way', () => {
    const bad = join(work, 'bad2.pfp');
    writeFileSync(bad, 'policy p {\n  region r size 4 KiB { on missing { copy nothing } }\n}\n');
    const r = faultc(['compile', bad, '-o', join(work, 'bad2-out'), '--json']);
    expect(r.status).toBe(1);
    const j = JSON.parse(r.stdout) as { ok: boolean; diagnostics: { code: string; line: number }[] };
    expect(j.ok).toBe(false);
    expect(j.diagnostics[0]?.line).toBe(2);
    expect(j.diagnostics[0]?.code).toMatch(/^PFP3\d{3}$/);

    const good = faultc(['compile', join(root, 'examples', 'postcopy.pfp'), '-o', join(work, 'pc'), '--json', '--emit', 'json']);
    expect(good.status).toBe(0);
    const g = JSON.parse(good.stdout) as { ok: boolean; policies: { policy: string; manifest: string; files: string[] }[] };
    expect(g.ok).toBe(true);
    expect(g.policies).toEqual([{ policy: 'postcopy', manifest: join(work, 'pc', 'postcopy.policy.json'), files: [join(work, 'pc', 'postcopy.policy.json')] }]);
  });

  test('usage errors exit 2; an unreadable file exits 4', () => {
    expect(faultc(['compile', join(root, 'examples', 'tiered.pfp'), '--emit', 'c,asm']).status).toBe(2);
    expect(faultc(['compile']).status).toBe(2);
    const missing = faultc(['compile', join(work, 'no-such.pfp'), '-o', join(work, 'none')]);
    expect(missing.status).toBe(4);
    expect(missing.stderr).toMatch(/PFP1010/);
    expect(existsSync(join(work, 'none'))).toBe(false);
  });

  test('--policy picks one policy of a file; an unknown one is an error', () => {
    const two = join(work, 'two.pfp');
    writeFileSync(two, 'policy a {\n  region r size 1 page { on missing { zero } }\n}\npolicy b {\n  region r size 1 page { on missing { sigbus } }\n}\n');
    const out = join(work, 'two-out');
    expect(faultc(['compile', two, '-o', out, '--policy', 'b', '--emit', 'json']).status).toBe(0);
    expect(readdirSync(out)).toEqual(['b.policy.json']);
    const r = faultc(['compile', two, '-o', join(work, 'two-none'), '--policy', 'c']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/PFP9002.*no policy named `c`/);
  });

  test('a C compiler failure is an internal error (exit 4) with its words, and nothing is written', () => {
    const out = join(work, 'cc-fail');
    const r = faultc(['compile', join(root, 'examples', 'tiered.pfp'), '-o', out], work, { FAULTC_CLANG: 'false' });
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/PFP9001.*internal error/);
    expect(existsSync(out)).toBe(false);
  });
});

// The spec's own examples (../shared/spec/examples beside the checkout) must
// compile as written, every artifact included.
const specExamples = join(root, '..', 'shared', 'spec', 'examples');
const specReason = existsSync(specExamples) ? null : `no ${specExamples} beside this checkout`;
if (specReason) console.log(`codegen-cli: spec examples skipped: ${specReason}`);

describe.skipIf(specReason !== null)('the spec examples compile as written', () => {
  test('every .pfp in shared/spec/examples gives all eight artifacts per policy', async () => {
    const files = readdirSync(specExamples).filter((f) => f.endsWith('.pfp')).sort();
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const f of files) {
      const out = join(work, 'spec', f);
      const r = faultc(['compile', join(specExamples, f), '-o', out, '--json']);
      expect(r.status, `${f}: ${r.stdout}${r.stderr}`).toBe(0);
      const j = JSON.parse(r.stdout) as { policies: { files: string[] }[] };
      for (const p of j.policies) expect(p.files.length).toBe(8);
    }
  });
});
