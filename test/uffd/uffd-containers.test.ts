// Where a container refuses userfaultfd, faultc says the true cause and the
// fix that fits it. Real runs of `faultc run` under test/fixtures/as-container.c
// (a seccomp filter refusing userfaultfd(2), /dev/userfaultfd absent or masked
// in a mount namespace, CAP_SYS_PTRACE dropped): exit status 3 and the message
// checked word for word; the fixes it names (the device, user-mode-only) then
// work. And runtime/proc/uffd-access.ts's explanation of facts no host here can
// produce (a user namespace, a device not open to the user, no userfaultfd).
// The kernel engine under the same filter runs in test/vm/vm-containers.test.ts.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { explainUserfaultfd, userfaultfdFacts, type UserfaultfdFacts } from '../../runtime/proc/uffd-access.js';
import { asContainer, buildAsContainer, type ContainerOptions } from '../helpers/as-container.js';
import { examplesDir, isRoot, repoRoot, tempDir } from '../helpers/uffd.js';

const cli = join(repoRoot, 'dist', 'runtime', 'cli.js');
let dir = '';
let wrapper = '';

/** Why this host cannot show the refusals (the test process itself must have userfaultfd, root, no filter). */
function hostUnfit(): string | null {
  if (!isRoot) return 'needs root (the wrapper mounts)';
  const f = userfaultfdFacts();
  if (f.syscall !== 'ok' || !f.capSysPtrace || !f.initialUserNamespace) return `this process cannot open a userfaultfd itself (${f.syscall})`;
  if ((f.seccomp?.mode ?? 0) !== 0) return 'this process runs under a seccomp filter already';
  if (f.unprivilegedSysctl !== 0) return `vm.unprivileged_userfaultfd is ${f.unprivilegedSysctl ?? 'absent'}, not 0`;
  return null;
}
const unfit = hostUnfit();
if (unfit) console.warn(`uffd-containers: host tests skipped: ${unfit}`);

beforeAll(() => {
  if (unfit) return;
  dir = tempDir('faultc-containers-');
  wrapper = buildAsContainer(dir);
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function faultcRun(o: ContainerOptions, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const cmd = [...asContainer(wrapper, o), process.execPath, cli, 'run', ...args];
  const r = spawnSync(cmd[0] ?? '', cmd.slice(1), { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const guard = [join(examplesDir, 'debug-guard.pfp'), '--region', 'arena', '--touch', '64', '--verify'];
const DEVICE_FIX = 'pass the device into the container (docker or podman run --device /dev/userfaultfd): opening it needs neither userfaultfd(2) nor CAP_SYS_PTRACE';
const KERNEL_FIX = 'use the kernel engine on the faultc kernel (kernel/ in this project; it needs CAP_BPF, and a userfaultfd only for `defer` and `on write` rules)';
const FILTERED = 'a seccomp filter makes userfaultfd(2) fail with EPERM, even with UFFD_USER_MODE_ONLY, which needs no privilege (Seccomp: 2, 1 filter)';

describe.skipIf(unfit !== null)('uffd engine where a container refuses userfaultfd (host)', () => {
  test("a container's defaults (filter with EPERM, no /dev/userfaultfd, no CAP_SYS_PTRACE): exit 3, every cause and its fix", () => {
    for (const engine of ['uffd', 'auto']) {
      const r = faultcRun({}, [...guard, '--engine', engine]);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        `faultc run: userfaultfd is refused here: ${FILTERED}, and /dev/userfaultfd does not exist. ` +
          'Without the filter the call would still be refused: this process lacks CAP_SYS_PTRACE and vm.unprivileged_userfaultfd is 0. ' +
          `Fix: ${DEVICE_FIX}; or allow userfaultfd in the seccomp profile (--security-opt seccomp=<profile>) and grant CAP_SYS_PTRACE (--cap-add SYS_PTRACE); or ${KERNEL_FIX}.\n`,
      );
      expect(r.status).toBe(3);
    }
  });

  test('root with every capability, the filter and /dev/userfaultfd masked by /dev/null: the filter is named, not privilege', () => {
    const r = faultcRun({ dev: 'mask', keepPtrace: true }, [...guard, '--engine', 'uffd']);
    expect(r.stderr).toBe(
      `faultc run: userfaultfd is refused here: ${FILTERED}, and /dev/userfaultfd is not the userfaultfd device but 1:3 (something is mounted over it). ` +
        `Fix: ${DEVICE_FIX}; or allow userfaultfd in the seccomp profile (--security-opt seccomp=<profile>); or ${KERNEL_FIX}.\n`,
    );
    expect(r.status).toBe(3);
  });

  test('no filter, no CAP_SYS_PTRACE, no device: the privilege is named; --user-mode-only, the fix it offers, then works', () => {
    const r = faultcRun({ seccomp: false }, [...guard, '--engine', 'uffd']);
    expect(r.stderr).toBe(
      'faultc run: userfaultfd is refused here: userfaultfd(2) fails with EPERM: this process lacks CAP_SYS_PTRACE and vm.unprivileged_userfaultfd is 0, and /dev/userfaultfd does not exist. ' +
        `Fix: ${DEVICE_FIX}; or grant CAP_SYS_PTRACE (--cap-add SYS_PTRACE) or set the sysctl vm.unprivileged_userfaultfd=1; ` +
        `or ask for user-mode faults only (--user-mode-only; faults inside system calls then fail with EFAULT); or ${KERNEL_FIX}.\n`,
    );
    expect(r.status).toBe(3);
    const ok = faultcRun({ seccomp: false }, [...guard, '--engine', 'uffd', '--user-mode-only']);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toContain('verified 64 pages byte for byte against the policy and its sources: ok');
    expect(ok.status).toBe(0);
  });

  test('faultc features reports the same causes; with the device passed in, userfaultfd through it', () => {
    const features = (o: ContainerOptions): { ok: boolean; detail: string; causes: string[]; features: string[] } => {
      const cmd = [...asContainer(wrapper, o), process.execPath, cli, 'features', '--json'];
      const r = spawnSync(cmd[0] ?? '', cmd.slice(1), { encoding: 'utf8', timeout: 60_000 });
      return (JSON.parse(r.stdout) as { userfaultfd: { ok: boolean; detail: string; causes: string[]; features: string[] } }).userfaultfd;
    };
    const refused = features({ dev: 'mask', keepPtrace: true });
    expect(refused.ok).toBe(false);
    expect(refused.causes).toEqual(['seccomp', 'device-not-userfaultfd']);
    expect(refused.detail).toBe(
      `userfaultfd is refused here: ${FILTERED}, and /dev/userfaultfd is not the userfaultfd device but 1:3 (something is mounted over it). ` +
        `Fix: ${DEVICE_FIX}; or allow userfaultfd in the seccomp profile (--security-opt seccomp=<profile>); or ${KERNEL_FIX}.`,
    );
    const device = features({ errno: 'ENOSYS', dev: 'keep' });
    expect(device).toMatchObject({ ok: true, detail: 'available through /dev/userfaultfd (userfaultfd(2): ENOSYS)', causes: [] });
    expect(device.features).toContain('THREAD_ID');
  });

  test('the device passed in: the uffd engine works behind the filter (EPERM or ENOSYS) and without CAP_SYS_PTRACE', () => {
    for (const errno of ['EPERM', 'ENOSYS'] as const) {
      const r = faultcRun({ errno, dev: 'keep' }, [join(examplesDir, 'snapshot-restore.pfp'), '--region', 'heap', '--touch', '256', '--verify', '--engine', 'uffd']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('verified 256 pages byte for byte against the policy and its sources: ok');
      expect(r.status).toBe(0);
    }
  });
});

/** Facts of a process that can open a userfaultfd every way. */
const open: UserfaultfdFacts = {
  syscall: 'ok',
  userModeOnly: 'ok',
  device: 'ok',
  deviceIoctl: 'ok',
  deviceNode: '10:257',
  features: 0x1ffffn,
  seccomp: { mode: 0, filters: 0 },
  capSysPtrace: true,
  initialUserNamespace: true,
  uid: 0,
  unprivilegedSysctl: 0,
};

describe('explainUserfaultfd: facts no host here produces', () => {
  test('usable: no causes, no message', () => {
    expect(explainUserfaultfd(open)).toMatchObject({ usable: true, causes: [], message: '', code: '' });
    expect(explainUserfaultfd({ ...open, syscall: 'ENOSYS', userModeOnly: 'ENOSYS' }).usable).toBe(true);
  });

  test('rootless container: CAP_SYS_PTRACE inside a user namespace only, the device not open to the mapped uid', () => {
    const a = explainUserfaultfd({ ...open, syscall: 'EPERM', device: 'EACCES', deviceIoctl: '-', initialUserNamespace: false, uid: 1000 });
    expect(a.causes).toEqual(['privilege', 'device-denied']);
    expect(a.code).toBe('FAULTC_UFFD_EPERM');
    expect(a.message).toBe(
      'userfaultfd is refused here: userfaultfd(2) fails with EPERM: this process has CAP_SYS_PTRACE only inside a user namespace (the kernel asks for it in the initial one) and vm.unprivileged_userfaultfd is 0, ' +
        'and /dev/userfaultfd is not open to uid 1000 (its file mode). ' +
        'Fix: give uid 1000 read and write access to /dev/userfaultfd; or grant CAP_SYS_PTRACE (--cap-add SYS_PTRACE) or set the sysctl vm.unprivileged_userfaultfd=1; ' +
        `or ask for user-mode faults only (userModeOnly: true; faults inside system calls then fail with EFAULT); or ${KERNEL_FIX}.`,
    );
    // Asked for user-mode-only, the same process is fine.
    expect(explainUserfaultfd({ ...open, syscall: 'EPERM', device: 'EACCES', deviceIoctl: '-', initialUserNamespace: false }, { userModeOnly: true }).message).toBe('');
  });

  test('a kernel without userfaultfd: ENOSYS, no sysctl, no device', () => {
    const a = explainUserfaultfd({ ...open, syscall: 'ENOSYS', userModeOnly: 'ENOSYS', device: 'ENOENT', deviceIoctl: '-', deviceNode: null, unprivilegedSysctl: null });
    expect(a.code).toBe('FAULTC_UFFD_ENOSYS');
    expect(a.message).toBe(
      'userfaultfd is refused here: the kernel has no userfaultfd (userfaultfd(2) is ENOSYS and the sysctl vm.unprivileged_userfaultfd does not exist), and /dev/userfaultfd does not exist. ' +
        `Fix: run a kernel built with CONFIG_USERFAULTFD; or ${KERNEL_FIX}.`,
    );
  });

  test('a device cgroup refusing the device, and a refusal nothing here explains', () => {
    const a = explainUserfaultfd({ ...open, syscall: 'EACCES', userModeOnly: 'EACCES', device: 'EPERM', deviceIoctl: '-' });
    expect(a.causes).toEqual(['unexplained', 'device-cgroup']);
    expect(a.message).toBe(
      'userfaultfd is refused here: userfaultfd(2) fails with EACCES, which neither a seccomp filter (Seccomp: 0) nor missing privilege explains (a security module?), ' +
        'and opening /dev/userfaultfd fails with EPERM (a device cgroup that does not allow it). ' +
        `Fix: ${DEVICE_FIX}; or ${KERNEL_FIX}.`,
    );
  });

  test('ENOSYS from a filter on a kernel that has userfaultfd; the kernel engine present, and the kernel engine asking', () => {
    const f: UserfaultfdFacts = { ...open, syscall: 'ENOSYS', userModeOnly: 'ENOSYS', device: 'ENOENT', deviceIoctl: '-', deviceNode: null, seccomp: { mode: 2, filters: 3 } };
    const head =
      'userfaultfd is refused here: a seccomp filter makes userfaultfd(2) fail with ENOSYS, even with UFFD_USER_MODE_ONLY, which needs no privilege (Seccomp: 2, 3 filters), and /dev/userfaultfd does not exist. ' +
      `Fix: ${DEVICE_FIX}; or allow userfaultfd in the seccomp profile (--security-opt seccomp=<profile>); or `;
    expect(explainUserfaultfd(f, { kernelHook: true }).message).toBe(
      `${head}use the kernel engine, which this kernel has (engine: 'kernel' or engine: 'auto'; it needs CAP_BPF, and a userfaultfd only for \`defer\` and \`on write\` rules).`,
    );
    expect(explainUserfaultfd(f, { kernelHook: true, engine: 'kernel' }).message).toBe(
      `${head}leave the \`defer\` and \`on write\` rules out of the policy (the kernel engine needs no userfaultfd without them).`,
    );
  });
});
