// Runs a command the way a container runtime's defaults would, for
// userfaultfd: test/fixtures/as-container.c (a seccomp filter refusing
// userfaultfd(2), /dev/userfaultfd absent or masked in a mount namespace,
// no CAP_SYS_PTRACE). Root only: it mounts.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const source = join(import.meta.dirname, '..', 'fixtures', 'as-container.c');

export interface ContainerOptions {
  /** The errno the filter gives userfaultfd(2) (EPERM: Docker's default). */
  errno?: 'EPERM' | 'ENOSYS';
  /** /dev/userfaultfd: absent (a container's /dev), masked by /dev/null, or kept. */
  dev?: 'absent' | 'mask' | 'keep';
  keepPtrace?: boolean;
  seccomp?: boolean;
}

/** Compiles the wrapper into dir; returns its path. */
export function buildAsContainer(dir: string): string {
  const bin = join(dir, 'as-container');
  execFileSync('cc', ['-O2', '-Wall', '-Werror', source, '-o', bin]);
  return bin;
}

/** The argv prefix that runs a command under the wrapper. */
export function asContainer(bin: string, o: ContainerOptions = {}): string[] {
  return [
    bin,
    ...(o.errno ? ['--errno', o.errno] : []),
    ...(o.dev ? ['--dev', o.dev] : []),
    ...(o.keepPtrace ? ['--keep-ptrace'] : []),
    ...(o.seccomp === false ? ['--no-seccomp'] : []),
    '--',
  ];
}
