// The hostile inputs of the adversarial suite, as data: what is run, as whom,
// and how it must end (exit status or signal, and what it says). Paths are
// resolved against the suite's scratch folder (`@/name`) and the examples
// (`examples/name`) when the case runs; `@/size:<size>` is a one-region
// policy of that size made on the fly.
import { expect } from 'vitest';

/** Who runs the case: root as the suite does, or user nobody without (or with some) capabilities. */
export type Runner = 'self' | 'nobody' | 'nobody+bpf';

export interface CliCase {
  group: 'special files' | 'huge regions' | 'usage' | 'unprivileged' | 'signals';
  name: string;
  argv: string[];
  as?: Runner;
  env?: Record<string, string>;
  /**
   * Sent to faultc once it is busy: a child of faultc with this name exists,
   * or faultc's resident memory passed this many KiB (pages being touched).
   */
  signal?: { name: NodeJS.Signals; when: { child: string } | { rssKib: number } };
  needsBpf?: boolean;
  expect: { status?: number; signal?: NodeJS.Signals; stderr?: RegExp; stdout?: RegExp };
}

const notRegular = (kind: string) => new RegExp(`not a regular file \\(${kind}\\)`);

export const CLI_CASES: CliCase[] = [
  // The policy file.
  ...(['check', 'compile', 'run', 'explain', 'fmt'] as const).map<CliCase>((cmd) => ({
    group: 'special files',
    name: `${cmd} of a FIFO`,
    argv: [cmd, '@/fifo', ...(cmd === 'run' ? ['--region', 'r'] : cmd === 'compile' ? ['-o', '@/out'] : [])],
    expect: { status: 4, stderr: notRegular('a FIFO') },
  })),
  { group: 'special files', name: 'check of /dev/zero', argv: ['check', '/dev/zero'], expect: { status: 4, stderr: notRegular('a character device') } },
  { group: 'special files', name: 'check of /dev/null', argv: ['check', '/dev/null'], expect: { status: 4, stderr: notRegular('a character device') } },
  { group: 'special files', name: 'run of /dev/urandom', argv: ['run', '/dev/urandom', '--region', 'r'], expect: { status: 4, stderr: notRegular('a character device') } },
  { group: 'special files', name: 'check of a directory', argv: ['check', '@/adir'], expect: { status: 4, stderr: notRegular('a directory') } },
  { group: 'special files', name: 'check of a socket', argv: ['check', '@/sock'], expect: { status: 4, stderr: /sock: error PFP1010: cannot read the file: no such device or address\n/ } },
  { group: 'special files', name: 'check of a symlink loop', argv: ['check', '@/loop1'], expect: { status: 4, stderr: /loop1: error PFP1010: cannot read the file: too many symbolic links\n/ } },
  { group: 'special files', name: 'check of a symlink to a FIFO', argv: ['check', '@/fifo-link'], expect: { status: 4, stderr: notRegular('a FIFO') } },
  { group: 'special files', name: 'check of /proc/self/mem', argv: ['check', '/proc/self/mem'], expect: { status: 4, stderr: /\/proc\/self\/mem: error PFP1010: cannot read the file: input\/output error\n/ } },
  { group: 'special files', name: 'check of a 10 GiB sparse file', argv: ['check', '@/sparse.pfp'], expect: { status: 1, stderr: /PFP1008: input is 10737418240 bytes; the limit is 1048576/ } },
  { group: 'special files', name: 'run of a FIFO named .policy.json', argv: ['run', '@/fifo.policy.json', '--region', 'r'], expect: { status: 4, stderr: notRegular('a FIFO') } },
  // A source.
  ...([
    ['a FIFO', '@/fifo'],
    ['a directory', '@/adir'],
    ['a character device', '/dev/zero'],
    ['a FIFO', '@/fifo-link'],
  ] as const).map<CliCase>(([kind, path]) => ({
    group: 'special files',
    name: `run --source ${path}`,
    argv: ['run', 'examples/snapshot-restore.pfp', '--region', 'heap', '--engine', 'uffd', '--touch', '4', '--source', `image=${path}`],
    expect: { status: 4, stderr: new RegExp(`source image: .* is ${notRegular(kind).source}`) },
  })),

  // Regions beyond what an ArrayBuffer can be, up to what the address space holds.
  ...(['4 GiB', '1048577 pages', '8 GiB', '1 TiB', '16 TiB'] as const).map<CliCase>((size) => ({
    group: 'huge regions',
    name: `run --verify of a ${size} region`,
    argv: ['run', `@/size:${size}`, '--region', 'r', '--engine', 'uffd', '--touch', '16', '--verify'],
    expect: { status: 0, stdout: /verified 16 pages[\s\S]*faults 16 +zero 16 / },
  })),
  { group: 'huge regions', name: 'run of a 127 TiB region', argv: ['run', '@/size:127 TiB', '--region', 'r', '--engine', 'uffd', '--touch', '1'], expect: { status: 4, stderr: /mmap of 139637976727552 bytes failed: Cannot allocate memory/ } },
  { group: 'huge regions', name: 'run of a region at 0', argv: ['run', '@/at0.pfp', '--region', 'r', '--engine', 'uffd'], expect: { status: 4, stderr: /region r is placed at address 0, which cannot be mapped/ } },

  // Numbers out of range.
  { group: 'usage', name: 'run --threads 100000', argv: ['run', 'examples/debug-guard.pfp', '--region', 'arena', '--threads', '100000'], expect: { status: 2, stderr: /expected 1 to 64/ } },
  { group: 'usage', name: 'run --threads 0', argv: ['run', 'examples/debug-guard.pfp', '--region', 'arena', '--threads', '0'], expect: { status: 2, stderr: /expected a positive integer/ } },
  { group: 'usage', name: 'trace --pid 0', argv: ['trace', '--pid', '0'], expect: { status: 2, stderr: /--pid needs a process id \(a positive integer\), got 0/ } },
  { group: 'usage', name: 'trace --pid -1', argv: ['trace', '--pid=-1'], expect: { status: 2, stderr: /--pid needs a process id \(a positive integer\), got -1/ } },
  { group: 'usage', name: 'trace --pid 4194304 (above pid_max)', argv: ['trace', '--pid', '4194304', '--duration', '1'], needsBpf: true, expect: { status: 2, stderr: /no process 4194304/ } },

  // Without privilege.
  { group: 'unprivileged', name: 'run (uffd) as nobody', as: 'nobody', argv: ['run', 'examples/debug-guard.pfp', '--region', 'arena', '--engine', 'uffd', '--touch', '4'], expect: { status: 3, stderr: /userfaultfd is refused here: .*lacks CAP_SYS_PTRACE.*--user-mode-only/ } },
  { group: 'unprivileged', name: 'run --user-mode-only as nobody', as: 'nobody', argv: ['run', 'examples/debug-guard.pfp', '--region', 'arena', '--engine', 'uffd', '--touch', '4', '--user-mode-only', '--verify'], expect: { status: 0, stdout: /verified 4 pages/ } },
  { group: 'unprivileged', name: 'run --engine kernel as nobody', as: 'nobody', argv: ['run', 'examples/debug-guard.pfp', '--region', 'arena', '--engine', 'kernel', '--touch', '4'], expect: { status: 3, stderr: /the kernel engine needs the faultc fault hook/ } },
  { group: 'unprivileged', name: 'trace as nobody', as: 'nobody', argv: ['trace', '--', 'true'], expect: { status: 3, stderr: /loading BPF programs needs root \(CAP_BPF and CAP_PERFMON\)/ } },
  { group: 'unprivileged', name: "trace --pid 1 as nobody with CAP_BPF + CAP_PERFMON", as: 'nobody+bpf', needsBpf: true, argv: ['trace', '--pid', '1', '--duration', '1'], expect: { status: 3, stderr: /process 1 belongs to another user: tracing it needs the right to ptrace it/ } },
  { group: 'unprivileged', name: 'check of a root-only file as nobody', as: 'nobody', argv: ['check', '@/secret.pfp'], expect: { status: 4, stderr: /secret\.pfp: error PFP1010: cannot read the file: permission denied\n/ } },
  { group: 'unprivileged', name: 'run with an unwritable cache as nobody: a private temporary one, said', as: 'nobody', env: { XDG_CACHE_HOME: '/root/faultc-cache' }, argv: ['run', 'examples/debug-guard.pfp', '--region', 'arena', '--engine', 'uffd', '--touch', '2', '--user-mode-only'], expect: { status: 0, stderr: /cannot use the cache folder \/root\/faultc-cache\/faultc\/policies \(EACCES\): using .*faultc-65534\/policies/ } },

  // Signals.
  ...(['SIGTERM', 'SIGINT'] as const).map<CliCase>((sig) => ({
    group: 'signals',
    name: `${sig} to faultc trace -- sleep`,
    needsBpf: true,
    argv: ['trace', '--', 'sleep', '60'],
    signal: { name: sig, when: { child: 'sleep' } },
    // faultc trace exits with the command's status, as perf and strace do: 128 + the signal.
    expect: { status: sig === 'SIGTERM' ? 143 : 130, stderr: new RegExp(`command exited with signal ${sig}`) },
  })),
  {
    group: 'signals',
    name: 'SIGTERM to faultc trace of a command that ignores it',
    needsBpf: true,
    argv: ['trace', '--', 'sh', '-c', 'trap "" TERM; exec sleep 30'],
    signal: { name: 'SIGTERM', when: { child: 'sleep' } },
    expect: { status: 0, stderr: /faultc trace: \d+ faults/ },
  },
  {
    group: 'signals',
    name: 'SIGINT to faultc run mid-touch',
    // Writes: read faults of a zero region map the shared zero page and never grow the RSS this waits for.
    argv: ['run', '@/size:2 GiB', '--region', 'r', '--engine', 'uffd', '--threads', '2', '--write'],
    signal: { name: 'SIGINT', when: { rssKib: 200_000 } },
    expect: { signal: 'SIGINT' },
  },
];

/** Cases through the Node API, run by test/fixtures/reliability-child.mjs. */
export interface ApiCase {
  group: 'dropped policies' | 'throwing listeners' | 'special files' | 'huge regions' | 'teardown';
  name: string;
  scenario: string;
  args?: Record<string, unknown>;
  /** Run with --expose-gc; the scenario reports `before` and `after` fd/thread counts, which must be equal. */
  countsBack?: boolean;
  /** Matched with toMatchObject against the scenario's JSON line. */
  expect: Record<string, unknown>;
}

export const API_CASES: ApiCase[] = [
  { group: 'teardown', name: 'a notify page read from JavaScript, close(), exit', scenario: 'close-after-js-read', expect: { byte: expect.any(Number) } },
  { group: 'teardown', name: '8 policies left open at exit', scenario: 'left-open', args: { policies: 8 }, expect: { open: 8 } },
  { group: 'dropped policies', name: '20 debug-guard policies dropped: fds and threads back', scenario: 'dropped', args: { policies: 20 }, countsBack: true, expect: {} },
  { group: 'dropped policies', name: '10 snapshot-restore policies (notify) dropped: fds and threads back', scenario: 'dropped', args: { policies: 10, file: 'snapshot-restore.pfp', region: 'heap' }, countsBack: true, expect: {} },
  { group: 'dropped policies', name: 'a buffer outliving its dropped policy keeps the engine, then lets it go', scenario: 'buffer-keeps', countsBack: true, expect: { byte: 0xa5 } },
  { group: 'throwing listeners', name: 'throwing region and policy listeners, 200 faults', scenario: 'throwing-listener', args: { faults: 200 }, expect: { got: { regionThrower: 200, region: 200, policy: 200, policyThrower: 200 }, uncaught: 400 } },
  { group: 'throwing listeners', name: "a throwing 'once' listener beside another", scenario: 'once-listener', expect: { once: 1, all: 32, uncaught: ['42'] } },
  { group: 'throwing listeners', name: "close() from inside a 'fault' listener", scenario: 'close-in-listener', expect: { closed: true, seen: true, after: 'FAULTC_POLICY_CLOSED' } },
  { group: 'special files', name: 'loadPolicy() with a FIFO source', scenario: 'load', args: { policy: 'examples/snapshot-restore.pfp', region: 'heap', options: { sources: { image: '@/fifo' } } }, expect: { ok: false, code: 'FAULTC_SOURCE_NOT_FILE' } },
  { group: 'special files', name: 'loadPolicy() with a directory source', scenario: 'load', args: { policy: 'examples/snapshot-restore.pfp', region: 'heap', options: { sources: { image: '@/adir' } } }, expect: { ok: false, code: 'FAULTC_SOURCE_NOT_FILE' } },
  { group: 'special files', name: 'loadPolicy() of a FIFO', scenario: 'load', args: { policy: '@/fifo', region: 'r' }, expect: { ok: false, code: 'FAULTC_POLICY_READ' } },
  { group: 'special files', name: "the engine's own open of a FIFO source", scenario: 'native-source', args: { source: '@/fifo' }, expect: { ok: false, code: 'FAULTC_UFFD_EINVAL' } },
  { group: 'huge regions', name: 'an 8 GiB region: views, no whole buffer', scenario: 'big-region', args: { policy: '@/size:8 GiB' }, expect: { tail: 7, faults: 3, bufferError: { code: 'FAULTC_REGION_TOO_LARGE' } } },
];
