// The QEMU harness itself: kernel/run-in-vm.sh boots the faultc kernel, runs a
// command chrooted into the host's root and reports what happened.  Needs
// qemu-system-x86_64 and a kernel build (done once per test run when cold);
// if the VM cannot run, these tests fail rather than skip.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureKernel, repoRoot } from '../setup/kernel.js';
import { runInVm, VM_DIED, VM_KERNEL_WARNING } from './harness.js';

const bootTimeout = 240_000;
let work: string;
let probe: string;

beforeAll(() => {
  ensureKernel();
  // A host directory the guest may write; the probe binary lives there too.
  work = realpathSync(mkdtempSync(join(tmpdir(), 'faultc-vm-harness-')));
  probe = join(work, 'syscall-probe');
  execFileSync('gcc', ['-O2', '-Wall', '-pthread', '-o', probe, join(repoRoot, 'test/vm/fixtures/syscall-probe.c')]);
}, 1_800_000);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('run-in-vm.sh', () => {
  it('runs in the host working directory with host files, 2 CPUs, userfaultfd and bpf', async () => {
    const script = [
      'set -e',
      'echo "cwd=$(pwd)"',
      'echo "sum=$(sha256sum package.json | cut -d" " -f1)"',
      'echo "online=$(cat /sys/devices/system/cpu/online)"',
      'echo "nproc=$(nproc)"',
      'echo "invm=$FAULTC_IN_VM"',
      'echo "marker=$FAULTC_TEST_MARKER"',
      'echo "kernel=$(uname -r)"',
      'test -e /sys/kernel/btf/vmlinux && echo btf=yes',
      'grep -q " /sys/fs/bpf bpf " /proc/mounts && echo bpffs=yes',
      '"$PROBE"',
      'echo written-in-guest > "$WORK/from-guest"',
      'echo to-stderr >&2',
    ].join('\n');
    const r = await runInVm(['sh', '-c', script], {
      cwd: repoRoot,
      shares: [work],
      env: { PROBE: probe, WORK: work, FAULTC_TEST_MARKER: 'm-42' },
      timeoutSeconds: 200,
    });
    expect(r.stderr).toContain('to-stderr');
    expect(r.status, r.stderr).toBe(0);
    const lines = new Map(
      r.stdout
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
    );
    expect(lines.get('cwd')).toBe(realpathSync(repoRoot));
    const hostSum = execFileSync('sha256sum', [join(repoRoot, 'package.json')], { encoding: 'utf8' }).split(' ')[0];
    expect(lines.get('sum')).toBe(hostSum);
    expect(lines.get('online')).toBe('0-1');
    expect(lines.get('nproc')).toBe('2');
    expect(lines.get('invm')).toBe('1');
    expect(lines.get('marker')).toBe('m-42');
    expect(lines.get('kernel')).toMatch(/^6\.12\./);
    expect(lines.get('btf')).toBe('yes');
    expect(lines.get('bpffs')).toBe('yes');
    expect(r.stdout).toMatch(/^ok userfaultfd features=0x[0-9a-f]+$/m);
    expect(r.stdout).toMatch(/^ok bpf map=\d+ value=0x5eed$/m);
    // stdout and stderr stay apart.
    expect(r.stdout).not.toContain('to-stderr');
    // Written through the read-write share, read back on the host.
    expect(readFileSync(join(work, 'from-guest'), 'utf8')).toBe('written-in-guest\n');
    expect(r.dmesgProblems).toEqual([]);
    expect(r.dmesg).toMatch(/Linux version 6\.12\./);
  }, bootTimeout);

  it('passes a non-zero exit status through', async () => {
    const r = await runInVm(['sh', '-c', 'echo before-exit; exit 7'], { timeoutSeconds: 200 });
    expect(r.stdout).toBe('before-exit\n');
    expect(r.status).toBe(7);
  }, bootTimeout);

  it('passes status 1 of `false` and 127 for a missing command', async () => {
    const f = await runInVm(['false'], { timeoutSeconds: 200 });
    expect(f.status).toBe(1);
    const missing = await runInVm(['/nonexistent/faultc-no-such-command'], { timeoutSeconds: 200 });
    expect(missing.status).toBe(127);
    expect(missing.stderr).toContain('faultc-no-such-command');
  }, 2 * bootTimeout);

  it('turns a kernel warning in dmesg into status 120 unless allowed', async () => {
    const line = 'faultc-harness-check WARNING: synthetic';
    const cmd = ['sh', '-c', `echo "${line}" > /dev/kmsg`];
    const strict = await runInVm(cmd, { timeoutSeconds: 200 });
    expect(strict.status).toBe(VM_KERNEL_WARNING);
    expect(strict.stderr).toContain('KERNEL-WARNING');
    expect(strict.dmesgProblems.some((l) => l.includes(line))).toBe(true);
    const allowed = await runInVm(cmd, { timeoutSeconds: 200, allowWarnings: true });
    expect(allowed.status).toBe(0);
    expect(allowed.dmesgProblems.some((l) => l.includes(line))).toBe(true);
  }, 2 * bootTimeout);

  it('reports 125 and the console log when the guest does not finish in time', async () => {
    const r = await runInVm(['sleep', '600'], { timeoutSeconds: 15 });
    expect(r.status).toBe(VM_DIED);
    expect(r.stderr).toMatch(/did not finish within 15 s/);
    expect(r.stderr).toMatch(/full console log: \S+console-\S+\.log/);
  }, bootTimeout);
});
