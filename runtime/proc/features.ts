// What this machine offers each engine (`faultc features`, like `bpftool
// feature probe` and `bpftrace --info`): userfaultfd and the features its
// handshake offers, BPF and BTF, the kernel hook, privileges, the compilers,
// and the versions of faultc's parts. Every fact is asked of the machine; a
// probe that cannot run says why.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { arch, release } from 'node:os';
import { join } from 'node:path';
import { clangCommand, hostCcCommand } from '../../codegen/clang.js';
import { KERNEL_HOOK_VERSION as HOOK_VERSION_SPOKEN } from '../engines/kernel.js';
import { addonPath, loadNative, packageRoot } from '../engines/native.js';
import { userfaultfdAccess, type RefusalCause } from './uffd-access.js';

/** UFFDIO_API feature bits (linux/userfaultfd.h), by name. */
export const UFFD_FEATURES: Record<string, number> = {
  PAGEFAULT_FLAG_WP: 0,
  EVENT_FORK: 1,
  EVENT_REMAP: 2,
  EVENT_REMOVE: 3,
  MISSING_HUGETLBFS: 4,
  MISSING_SHMEM: 5,
  EVENT_UNMAP: 6,
  SIGBUS: 7,
  THREAD_ID: 8,
  MINOR_HUGETLBFS: 9,
  MINOR_SHMEM: 10,
  EXACT_ADDRESS: 11,
  WP_HUGETLBFS_SHMEM: 12,
  WP_UNPOPULATED: 13,
  POISON: 14,
  WP_ASYNC: 15,
  MOVE: 16,
};

/** What the uffd engine does with each feature it uses. */
export const UFFD_USES: Record<string, string> = {
  THREAD_ID: 'required: events name the faulting thread',
  PAGEFAULT_FLAG_WP: "'on write' rules (write-protect faults)",
  POISON: "'sigbus' pages without a signal handler round trip",
  MINOR_SHMEM: 'zero-copy regions mapped from their source',
};

const CAPS: Record<string, number> = { CAP_SYS_PTRACE: 19, CAP_SYS_ADMIN: 21, CAP_PERFMON: 38, CAP_BPF: 39 };

export interface Check {
  ok: boolean;
  /** What was found, in words. */
  detail: string;
}

export interface EngineVerdict {
  available: boolean;
  /** Why not, or what limits it. */
  reason: string;
}

export interface Features {
  faultc: { version: string; addon: string | null; libbpf: string | null; hookVersionSpoken: number };
  system: { kernel: string; arch: string };
  privileges: { euid: number; capabilities: string[] };
  userfaultfd: Check & {
    features: string[];
    userModeOnly: boolean;
    sysctlUnprivileged: string | null;
    devUserfaultfd: boolean;
    uses: Record<string, boolean>;
    /** Why userfaultfd(2) and the device are refused (runtime/proc/uffd-access.ts); empty when they are not. */
    causes: RefusalCause[];
  };
  bpf: { btf: Check; tracepoint: Check; unprivilegedDisabled: string | null };
  hook: Check & { version: number | null };
  tools: { clang: Check; cc: Check };
  engines: { kernel: EngineVerdict; uffd: EngineVerdict; trace: EngineVerdict };
}

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

function capabilities(): string[] {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readText('/proc/self/status') ?? '');
  if (!m) return [];
  const eff = BigInt('0x' + m[1]);
  return Object.entries(CAPS)
    .filter(([, bit]) => (eff >> BigInt(bit)) & 1n)
    .map(([name]) => name);
}

function toolVersion(cmd: string): Check {
  try {
    const out = execFileSync(cmd, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    return { ok: true, detail: `${cmd}: ${out.split('\n')[0]!.trim()}` };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, detail: code === 'ENOENT' ? `${cmd} not found (Debian: apt-get install ${cmd === 'clang' ? 'clang llvm' : 'gcc'})` : `${cmd} --version failed` };
  }
}

interface ProbeNative {
  probes?: {
    uffd(): { ok: boolean; errno?: number; step?: string; error?: string; userModeOnly: boolean; features: bigint; ioctls: bigint };
    libbpfVersion(): string;
  };
  kernelHookVersion?: () => number;
}

function native(): ProbeNative | null {
  try {
    return loadNative() as ProbeNative;
  } catch {
    return null;
  }
}

export function probeFeatures(): Features {
  const n = native();
  const caps = capabilities();
  const euid = process.geteuid?.() ?? -1;

  // userfaultfd
  const sysctlUffd = readText('/proc/sys/vm/unprivileged_userfaultfd');
  const dev = existsSync('/dev/userfaultfd');
  let uffd: Features['userfaultfd'];
  const uses = (names: string[]) => Object.fromEntries(Object.keys(UFFD_USES).map((k) => [k, names.includes(k)]));
  if (!n?.probes) {
    uffd = { ok: false, detail: 'not probed: the native addon is not built', features: [], userModeOnly: false, sysctlUnprivileged: sysctlUffd, devUserfaultfd: dev, uses: uses([]), causes: [] };
  } else {
    const p = n.probes.uffd();
    const names = Object.entries(UFFD_FEATURES)
      .filter(([, bit]) => (p.features >> BigInt(bit)) & 1n)
      .map(([name]) => name);
    let detail: string;
    if (p.ok) detail = p.userModeOnly ? 'available for user-mode faults only (UFFD_USER_MODE_ONLY: no privilege for kernel-mode faults)' : 'available';
    else if (p.errno === 1 || p.errno === 13) {
      detail = `${p.step} refused (${p.error}): needs root or CAP_SYS_PTRACE, or vm.unprivileged_userfaultfd=1 (now ${sysctlUffd ?? 'unknown'})`;
    } else if (p.errno === 38) detail = 'this kernel has no userfaultfd (CONFIG_USERFAULTFD)';
    else detail = `${p.step} failed: ${p.error}`;
    uffd = { ok: p.ok, detail, features: names, userModeOnly: p.userModeOnly, sysctlUnprivileged: sysctlUffd, devUserfaultfd: dev, uses: uses(names), causes: [] };
    // The true cause where userfaultfd(2) is refused (seccomp, privilege, the
    // device), and the device as the way in the engines take when it works.
    const access = userfaultfdAccess({ kernelHook: n.kernelHookVersion?.() === HOOK_VERSION_SPOKEN });
    if (!access.usable) {
      uffd.causes = access.causes;
      if (!access.userModeOnlyUsable) uffd.detail = access.message;
    } else if (!p.ok) {
      const viaDevice = Object.entries(UFFD_FEATURES)
        .filter(([, bit]) => (access.facts.features >> BigInt(bit)) & 1n)
        .map(([name]) => name);
      uffd = { ...uffd, ok: true, detail: `available through /dev/userfaultfd (userfaultfd(2): ${access.facts.syscall})`, features: viaDevice, uses: uses(viaDevice) };
    }
  }

  // BPF and BTF
  const btf = existsSync('/sys/kernel/btf/vmlinux')
    ? { ok: true, detail: '/sys/kernel/btf/vmlinux present' }
    : { ok: false, detail: 'no /sys/kernel/btf/vmlinux: the kernel was built without CONFIG_DEBUG_INFO_BTF (tp_btf programs cannot load)' };
  const tpDirs = ['/sys/kernel/tracing/events/exceptions/page_fault_user', '/sys/kernel/debug/tracing/events/exceptions/page_fault_user'];
  const tpFound = tpDirs.find((d) => existsSync(d));
  const tracefsMounted = existsSync('/sys/kernel/tracing/events') || existsSync('/sys/kernel/debug/tracing/events');
  const tracepoint = tpFound
    ? { ok: true, detail: 'exceptions:page_fault_user present' }
    : tracefsMounted
      ? { ok: false, detail: 'tracefs has no exceptions:page_fault_user (x86 only; the trace engine needs it)' }
      : { ok: true, detail: 'not checked: tracefs is not mounted (the program attaches through BTF all the same)' };
  const unprivBpf = readText('/proc/sys/kernel/unprivileged_bpf_disabled');
  const bpfPriv = euid === 0 || caps.includes('CAP_BPF') || caps.includes('CAP_SYS_ADMIN');
  const perfPriv = euid === 0 || caps.includes('CAP_PERFMON') || caps.includes('CAP_SYS_ADMIN');

  // the kernel hook
  let hookVersion: number | null = null;
  let hook: Check;
  if (!n?.kernelHookVersion) hook = { ok: false, detail: 'not probed: the native addon is not built' };
  else {
    const v = n.kernelHookVersion();
    hookVersion = v > 0 ? v : null;
    hook =
      hookVersion === null
        ? { ok: false, detail: 'this kernel has no faultc fault hook (prctl PR_FAULT_POLICY): boot the kernel built from kernel/' }
        : hookVersion === HOOK_VERSION_SPOKEN
          ? { ok: true, detail: `PR_FAULT_POLICY version ${hookVersion}` }
          : { ok: false, detail: `hook version ${hookVersion}, this faultc speaks ${HOOK_VERSION_SPOKEN}` };
  }

  const clang = toolVersion(clangCommand());
  const cc = toolVersion(hostCcCommand());

  const why = (checks: [boolean, string][]): EngineVerdict => {
    const missing = checks.filter(([ok]) => !ok).map(([, w]) => w);
    return missing.length ? { available: false, reason: missing.join('; ') } : { available: true, reason: 'ready' };
  };
  const engines = {
    kernel: why([
      [n !== null, 'native addon not built'],
      [hook.ok, 'no faultc kernel hook'],
      [bpfPriv, 'needs root or CAP_BPF'],
      [clang.ok, 'clang missing'],
    ]),
    uffd: why([
      [n !== null, 'native addon not built'],
      [uffd.ok, 'userfaultfd not available'],
      [uffd.uses['THREAD_ID'] ?? false, 'userfaultfd lacks THREAD_ID'],
      [cc.ok, 'a C compiler (cc) is missing'],
    ]),
    trace: why([
      [n !== null, 'native addon not built'],
      [btf.ok, 'no kernel BTF'],
      [tracepoint.ok, 'no page-fault tracepoint'],
      [bpfPriv && perfPriv, 'needs root or CAP_BPF and CAP_PERFMON'],
      [clang.ok, 'clang missing'],
    ]),
  };
  if (engines.uffd.available && uffd.userModeOnly) engines.uffd.reason = 'user-mode faults only (run faultc run --user-mode-only, or as root)';

  return {
    faultc: { version: packageVersion(), addon: addonPath() ?? null, libbpf: n?.probes?.libbpfVersion() ?? null, hookVersionSpoken: HOOK_VERSION_SPOKEN },
    system: { kernel: release(), arch: arch() },
    privileges: { euid, capabilities: caps },
    userfaultfd: uffd,
    bpf: { btf, tracepoint, unprivilegedDisabled: unprivBpf },
    hook: { ...hook, version: hookVersion },
    tools: { clang, cc },
    engines,
  };
}

/** `faultc --version`: the package, the addon, libbpf and the kernel hook. */
export function versionText(): string {
  const n = native();
  const hook = n?.kernelHookVersion?.() ?? 0;
  return [
    `faultc ${packageVersion()}`,
    `addon: ${addonPath() ?? 'not built'}`,
    `libbpf: ${n?.probes?.libbpfVersion() ?? 'unknown (addon not built)'}`,
    `kernel hook: ${n === null ? 'unknown (addon not built)' : hook > 0 ? `version ${hook} (this faultc speaks ${HOOK_VERSION_SPOKEN})` : `none in this kernel (this faultc speaks version ${HOOK_VERSION_SPOKEN})`}`,
  ].join('\n');
}
