// `faultc verify` against the running kernel's verifier: every example's trace
// program is accepted; a deliberately broken object is rejected and the report
// names the .pfp line; without privilege the message says so plainly (exit 3).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { compileFile } from '../../codegen/build.js';
import { bpfIncludeFlags } from '../../codegen/clang.js';
import { hasBpfPrivilege } from '../../runtime/bpf/privilege.js';
import { verifyObject } from '../../runtime/bpf/verify.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'runtime', 'cli.js');
const privileged = process.getuid?.() === 0 && hasBpfPrivilege();
if (!privileged) console.log('verify tests skipped: loading BPF programs needs root (CAP_BPF, CAP_PERFMON)');

const work = mkdtempSync(join(tmpdir(), 'faultc-verify-'));
// The unprivileged run (uid 65534) must be able to read what it is given.
chmodSync(work, 0o755);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const exampleDirs = [join(root, 'examples'), join(root, '..', 'shared', 'spec', 'examples')].filter((d) => {
  try {
    return readdirSync(d).some((f) => f.endsWith('.pfp'));
  } catch {
    return false;
  }
});
const examples = [...new Set(exampleDirs.flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.pfp')).map((f) => join(d, f))))];

function faultc(args: string[], asNobody = false): { status: number | null; stdout: string; stderr: string } {
  const cmd = asNobody
    ? ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', process.execPath, cli, ...args]
    : [process.execPath, cli, ...args];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!privileged)('faultc verify on the running kernel', () => {
  const outDir = join(work, 'out');

  beforeAll(async () => {
    for (const [i, file] of examples.entries()) {
      const r = await compileFile(file, { outDir: join(outDir, String(i)), emit: ['c', 'obj', 'json'] });
      if (!r.ok) throw new Error(`${file} does not compile: ${r.diagnostics.map((d) => d.message).join('; ')}`);
    }
  });

  test('there are examples to verify', () => {
    expect(examples.length).toBeGreaterThanOrEqual(4);
  });

  test("every example's .trace.bpf.o is accepted by the kernel's verifier", () => {
    let objects = 0;
    for (const sub of readdirSync(outDir)) {
      for (const f of readdirSync(join(outDir, sub)).filter((n) => n.endsWith('.trace.bpf.o'))) {
        const v = verifyObject(join(outDir, sub, f), []);
        expect(v.outcome.log, f).toBe('');
        expect(v.outcome.ok, f).toBe(true);
        expect(v.outcome.programs.map((p) => p.section).sort()).toEqual([
          'tp_btf/page_fault_kernel',
          'tp_btf/page_fault_user',
          'tp_btf/sched_process_exec',
          'tp_btf/sched_process_fork',
        ]);
        for (const p of v.outcome.programs) expect(p.verifiedInsns).toBeGreaterThan(0);
        objects++;
      }
    }
    expect(objects).toBe(examples.length);
  });

  test('the CLI accepts a folder of compiled policies (exit 0)', () => {
    const r = faultc(['verify', join(outDir, '0')]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/trace\.bpf\.o: accepted by the kernel verifier \(faultc_fault_user \d+ insns/);
  });

  test('the CLI verifies a .pfp directly', () => {
    const r = faultc(['verify', join(root, 'examples', 'postcopy.pfp'), '--json']);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { ok: boolean; programs: unknown[] }[];
    expect(out).toHaveLength(1);
    expect(out[0]!.ok).toBe(true);
    expect(out[0]!.programs).toHaveLength(4); // page_fault_user, page_fault_kernel, sched_process_exec, sched_process_fork
  });

  test('a broken object is rejected and the report names the .pfp line', () => {
    const dir = join(work, 'broken');
    execFileSync('mkdir', ['-p', dir]);
    copyFileSync(join(root, 'test', 'verify-fixtures', 'broken.pfp'), join(dir, 'broken.pfp'));
    const obj = join(dir, 'broken.bpf.o');
    execFileSync('clang', ['-O2', '-g', '-target', 'bpf', ...bpfIncludeFlags(), '-c', join(root, 'test', 'verify-fixtures', 'broken.bpf.c'), '-o', obj]);
    const r = faultc(['verify', obj]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('REJECTED by the kernel verifier');
    expect(r.stderr).toContain('invalid access to map value');
    expect(r.stderr).toContain(`at ${join(dir, 'broken.pfp')}:6`);
    expect(r.stderr).toMatch(/ 6 \| +fill 0x5A/);

    const json = faultc(['verify', obj, '--json']);
    const [v] = JSON.parse(json.stdout) as { ok: boolean; place: { file: string; line: number; text: string } }[];
    expect(v!.ok).toBe(false);
    expect(v!.place).toEqual({ file: join(dir, 'broken.pfp'), line: 6, text: '      fill 0x5A' });
  });

  test("a rejected policy's report names the line in the policy's own .pfp (found through its manifest)", async () => {
    // Compile the fixture policy, then swap in the broken object (and its hash)
    // so the manifest's trace program is the one the verifier refuses.
    const src = join(work, 'src');
    const out = join(work, 'broken-out');
    execFileSync('mkdir', ['-p', src]);
    copyFileSync(join(root, 'test', 'verify-fixtures', 'broken.pfp'), join(src, 'broken.pfp'));
    const r = await compileFile(join(src, 'broken.pfp'), { outDir: out, emit: ['c', 'obj', 'json'] });
    expect(r.ok).toBe(true);
    const obj = join(out, 'broken.trace.bpf.o');
    execFileSync('clang', ['-O2', '-g', '-target', 'bpf', ...bpfIncludeFlags(), '-c', join(root, 'test', 'verify-fixtures', 'broken.bpf.c'), '-o', obj]);
    const manifestPath = join(out, 'broken.policy.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    manifest.hashes['broken.trace.bpf.o'] = createHash('sha256').update(readFileSync(obj)).digest('hex');
    writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
    const v = faultc(['verify', manifestPath]);
    expect(v.status).toBe(1);
    expect(v.stderr).toContain(`at ${join(src, 'broken.pfp')}:6`);
    expect(v.stderr).toMatch(/ 6 \| +fill 0x5A/);
  });

  test('without privilege the message is plain and the exit status is 3', () => {
    const manifest = readdirSync(join(outDir, '0')).find((f) => f.endsWith('.policy.json'))!;
    execFileSync('chmod', ['-R', 'a+rX', outDir]);
    const r = faultc(['verify', join(outDir, '0', manifest)], true);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('needs root (CAP_BPF');
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
  });
});
