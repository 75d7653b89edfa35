// Whether this process can open a userfaultfd, and when it cannot, why.
//
// Container runtimes refuse userfaultfd by default: their seccomp profiles
// make userfaultfd(2) fail (Docker with EPERM, others with ENOSYS), and
// /dev/userfaultfd is not in the container. EPERM is also what the kernel's
// own privilege check returns, so the errno alone sends the user to the
// wrong fix. The facts that tell them apart:
// - UFFD_USER_MODE_ONLY is allowed without privilege (Linux 5.11+): when it
//   is refused too, the privilege check is not what refused the call;
// - /proc/self/status: Seccomp (2: filters), Seccomp_filters, CapEff;
// - /proc/self/uid_map: CAP_SYS_PTRACE counts only in the initial user
//   namespace (userfaultfd's check is capable(), not ns_capable());
// - the sysctl vm.unprivileged_userfaultfd, which exists only on kernels
//   built with userfaultfd;
// - /dev/userfaultfd: absent, not open to this user, refused by a device
//   cgroup, or not the userfaultfd device (something mounted over it).
// The device needs neither userfaultfd(2) nor CAP_SYS_PTRACE: passing it
// into a container is the smallest fix.
//
// userfaultfdFacts() gathers the facts (native/src/uffd_access.c tries each
// way in); explainUserfaultfd() is a pure function of them, so every message
// is tested word for word against the facts that produce it.
import { engineWords, optionWords } from '../api/wording.js';
import { readFileSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { RuntimeError, type RuntimeCode } from '../../base/errors.js';
import { loadNative } from '../engines/native.js';

/** 'ok', or the errno name a way in failed with ('-': not tried). */
export type Outcome = string;

export interface UserfaultfdFacts {
  /** userfaultfd(2) for faults in system calls too (what the engines ask for). */
  syscall: Outcome;
  /** userfaultfd(2) with UFFD_USER_MODE_ONLY (no privilege needed). */
  userModeOnly: Outcome;
  /** open("/dev/userfaultfd", O_RDWR). */
  device: Outcome;
  /** USERFAULTFD_IOC_NEW on the opened device ('-' when it did not open). */
  deviceIoctl: Outcome;
  /** major:minor of the node at /dev/userfaultfd, null when there is none. */
  deviceNode: string | null;
  /** UFFDIO_API features of the first way that worked (0 when none did). */
  features: bigint;
  /** /proc/self/status Seccomp (0 none, 1 strict, 2 filters) and Seccomp_filters. */
  seccomp: { mode: number; filters: number } | null;
  /** CAP_SYS_PTRACE in the effective set. */
  capSysPtrace: boolean;
  /** The process is in the initial user namespace. */
  initialUserNamespace: boolean;
  uid: number;
  /** vm.unprivileged_userfaultfd, null when the sysctl does not exist. */
  unprivilegedSysctl: number | null;
}

export type RefusalCause = 'seccomp' | 'privilege' | 'no-userfaultfd' | 'unexplained' | 'device-absent' | 'device-denied' | 'device-cgroup' | 'device-not-userfaultfd' | 'device-failed';

export interface UserfaultfdAccess {
  facts: UserfaultfdFacts;
  /** A userfaultfd for faults in system calls too can be opened (what the engines need). */
  usable: boolean;
  /** A user-mode-only userfaultfd can be opened (userModeOnly / --user-mode-only). */
  userModeOnlyUsable: boolean;
  /** Empty when usable. */
  causes: RefusalCause[];
  /** The causes and their fixes in one paragraph; '' when usable. */
  message: string;
  /** FAULTC_UFFD_<errno of userfaultfd(2)>, '' when usable. */
  code: RuntimeCode | '';
}

const CAP_SYS_PTRACE = 19n;
const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

function outcome(errno: number): Outcome {
  return errno === 0 ? 'ok' : (ERRNO_NAMES.get(errno) ?? `errno ${errno}`);
}

function readOr(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function statusField(status: string, name: string): string | undefined {
  return new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim();
}

interface NativeProbe {
  syscall: number;
  userModeOnly: number;
  device: number;
  deviceIoctl: number;
  features: bigint;
}

function nativeProbe(): NativeProbe {
  const n = loadNative() as { uffdAccessProbe?: () => NativeProbe };
  if (typeof n.uffdAccessProbe !== 'function') {
    throw new RuntimeError('FAULTC_NATIVE', 'the native addon has no userfaultfd probe (rebuild native/)');
  }
  return n.uffdAccessProbe();
}

/** The facts of this process, gathered now (opens and closes up to three userfaultfds). */
export function userfaultfdFacts(): UserfaultfdFacts {
  const p = nativeProbe();
  const status = readOr('/proc/self/status') ?? '';
  const mode = statusField(status, 'Seccomp');
  const filters = statusField(status, 'Seccomp_filters');
  const capEff = statusField(status, 'CapEff');
  const uidMap = readOr('/proc/self/uid_map') ?? '';
  const sysctl = readOr('/proc/sys/vm/unprivileged_userfaultfd');
  let deviceNode: string | null = null;
  try {
    const st = statSync('/dev/userfaultfd');
    const rdev = st.rdev;
    deviceNode = st.isCharacterDevice() ? `${(rdev >> 8) & 0xfff}:${(rdev & 0xff) | ((rdev >> 12) & 0xfff00)}` : 'not a device';
  } catch {
    deviceNode = null;
  }
  return {
    syscall: outcome(p.syscall),
    userModeOnly: outcome(p.userModeOnly),
    device: outcome(p.device),
    deviceIoctl: p.device === 0 ? outcome(p.deviceIoctl) : '-',
    deviceNode,
    features: p.features,
    seccomp: mode === undefined ? null : { mode: Number(mode), filters: Number(filters ?? 0) },
    capSysPtrace: capEff !== undefined && ((BigInt(`0x${capEff}`) >> CAP_SYS_PTRACE) & 1n) === 1n,
    initialUserNamespace: /^\s*0\s+0\s+4294967295\s*$/m.test(uidMap),
    uid: process.getuid?.() ?? -1,
    unprivilegedSysctl: sysctl === null ? null : Number(sysctl.trim()),
  };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export interface AccessOptions {
  /** The running kernel has the faultc fault hook: the kernel engine works here. */
  kernelHook?: boolean;
  /** Asked for: a user-mode-only userfaultfd is enough. */
  userModeOnly?: boolean;
  /** The engine that needs the userfaultfd (the kernel engine's fixes differ). */
  engine?: 'uffd' | 'kernel';
}

/** Why userfaultfd(2) failed, and the sentence that says so. */
function syscallCause(f: UserfaultfdFacts): { cause: RefusalCause; text: string } {
  const filtered = (f.seccomp?.mode ?? 0) !== 0;
  const privileged = f.capSysPtrace && f.initialUserNamespace;
  // UFFD_USER_MODE_ONLY passes the privilege check; EINVAL: a kernel before 5.11.
  const userModeRefused = f.userModeOnly !== 'ok' && f.userModeOnly !== 'EINVAL';
  const hasUserfaultfd = f.unprivilegedSysctl !== null || f.deviceNode !== null;
  if (filtered && (userModeRefused || privileged || f.unprivilegedSysctl === 1) && (f.syscall !== 'ENOSYS' || hasUserfaultfd)) {
    const s = f.seccomp ?? { mode: 2, filters: 0 };
    const proof = userModeRefused
      ? 'even with UFFD_USER_MODE_ONLY, which needs no privilege'
      : privileged
        ? 'although this process has CAP_SYS_PTRACE'
        : 'although vm.unprivileged_userfaultfd is 1';
    return {
      cause: 'seccomp',
      text: `a seccomp filter makes userfaultfd(2) fail with ${f.syscall}, ${proof} (Seccomp: ${s.mode}, ${plural(s.filters, 'filter')})`,
    };
  }
  if (f.syscall === 'ENOSYS' && !hasUserfaultfd) {
    return { cause: 'no-userfaultfd', text: 'the kernel has no userfaultfd (userfaultfd(2) is ENOSYS and the sysctl vm.unprivileged_userfaultfd does not exist)' };
  }
  if (f.syscall === 'EPERM' && !privileged && f.unprivilegedSysctl !== 1) {
    const who = f.capSysPtrace ? 'has CAP_SYS_PTRACE only inside a user namespace (the kernel asks for it in the initial one)' : 'lacks CAP_SYS_PTRACE';
    return { cause: 'privilege', text: `userfaultfd(2) fails with EPERM: this process ${who} and vm.unprivileged_userfaultfd is ${f.unprivilegedSysctl ?? 0}` };
  }
  return {
    cause: 'unexplained',
    text: `userfaultfd(2) fails with ${f.syscall}, which neither a seccomp filter (Seccomp: ${f.seccomp?.mode ?? '?'}) nor missing privilege explains (a security module?)`,
  };
}

/** Why the device cannot be used, and the sentence that says so. */
function deviceCause(f: UserfaultfdFacts): { cause: RefusalCause; text: string } {
  if (f.device === 'ENOENT') return { cause: 'device-absent', text: '/dev/userfaultfd does not exist' };
  if (f.device === 'EACCES') return { cause: 'device-denied', text: `/dev/userfaultfd is not open to uid ${f.uid} (its file mode)` };
  if (f.device === 'EPERM') return { cause: 'device-cgroup', text: 'opening /dev/userfaultfd fails with EPERM (a device cgroup that does not allow it)' };
  if (f.device === 'ok' && (f.deviceIoctl === 'ENOTTY' || f.deviceIoctl === 'EINVAL')) {
    return { cause: 'device-not-userfaultfd', text: `/dev/userfaultfd is not the userfaultfd device but ${f.deviceNode ?? '?'} (something is mounted over it)` };
  }
  return { cause: 'device-failed', text: `/dev/userfaultfd fails with ${f.device === 'ok' ? f.deviceIoctl : f.device}` };
}

/**
 * What the facts mean: whether userfaultfd can be opened and, when not,
 * the true causes and the fixes that fit them. `kernelHook`: the running
 * kernel has the faultc fault hook (the kernel engine works here).
 */
export function explainUserfaultfd(f: UserfaultfdFacts, opts: AccessOptions = {}): UserfaultfdAccess {
  const viaDevice = f.device === 'ok' && f.deviceIoctl === 'ok';
  const usable = f.syscall === 'ok' || viaDevice;
  const userModeOnlyUsable = f.userModeOnly === 'ok' || viaDevice;
  if (opts.userModeOnly ? userModeOnlyUsable : usable) return { facts: f, usable, userModeOnlyUsable, causes: [], message: '', code: '' };

  const sys = syscallCause(f);
  const dev = deviceCause(f);
  const sentences = [`userfaultfd is refused here: ${sys.text}, and ${dev.text}.`];
  // Behind a filter the privilege check is not reached; say whether it would pass.
  const privileged = f.capSysPtrace && f.initialUserNamespace;
  const lacksPrivilege = sys.cause === 'seccomp' && !privileged && f.unprivilegedSysctl !== 1;
  if (lacksPrivilege) sentences.push(`Without the filter the call would still be refused: this process lacks CAP_SYS_PTRACE and vm.unprivileged_userfaultfd is ${f.unprivilegedSysctl ?? 0}.`);

  const fixes: string[] = [];
  if (sys.cause === 'no-userfaultfd') fixes.push('run a kernel built with CONFIG_USERFAULTFD');
  if (dev.cause === 'device-denied') fixes.push(`give uid ${f.uid} read and write access to /dev/userfaultfd`);
  else if (sys.cause !== 'no-userfaultfd') fixes.push('pass the device into the container (docker or podman run --device /dev/userfaultfd): opening it needs neither userfaultfd(2) nor CAP_SYS_PTRACE');
  if (sys.cause === 'seccomp') {
    fixes.push(`allow userfaultfd in the seccomp profile (--security-opt seccomp=<profile>)${lacksPrivilege ? ' and grant CAP_SYS_PTRACE (--cap-add SYS_PTRACE)' : ''}`);
  }
  if (sys.cause === 'privilege') {
    fixes.push('grant CAP_SYS_PTRACE (--cap-add SYS_PTRACE) or set the sysctl vm.unprivileged_userfaultfd=1');
    if (f.userModeOnly === 'ok') fixes.push(`ask for user-mode faults only (${optionWords({ name: 'userModeOnly' }, { flag: '--user-mode-only' })}; faults inside system calls then fail with EFAULT)`);
  }
  if (opts.engine === 'kernel') {
    fixes.push('leave the `defer` and `on write` rules out of the policy (the kernel engine needs no userfaultfd without them)');
  } else if (opts.kernelHook) {
    fixes.push(`use the kernel engine, which this kernel has (${engineWords('kernel')} or ${engineWords('auto')}; it needs CAP_BPF, and a userfaultfd only for \`defer\` and \`on write\` rules)`);
  } else {
    fixes.push('use the kernel engine on the faultc kernel (kernel/ in this project; it needs CAP_BPF, and a userfaultfd only for `defer` and `on write` rules)');
  }
  sentences.push(`Fix: ${fixes.join('; or ')}.`);
  return { facts: f, usable, userModeOnlyUsable, causes: [sys.cause, dev.cause], message: sentences.join(' '), code: `FAULTC_UFFD_${opts.userModeOnly ? f.userModeOnly : f.syscall}` };
}

/** The facts of this process and what they mean. */
export function userfaultfdAccess(opts: AccessOptions = {}): UserfaultfdAccess {
  return explainUserfaultfd(userfaultfdFacts(), opts);
}

/** Throws the refusal as a RuntimeError when userfaultfd cannot be opened; `context` opens the message. */
export function requireUserfaultfd(opts: AccessOptions & { context?: string } = {}): void {
  const a = userfaultfdAccess(opts);
  if (a.message) throw new RuntimeError(a.code === '' ? 'FAULTC_UFFD' : a.code, opts.context ? `${opts.context}: ${a.message}` : a.message);
}
