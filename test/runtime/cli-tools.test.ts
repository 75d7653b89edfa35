// The tool around the commands: `--version`, `features`, `-v`, the man pages
// and bash completion, each asked of the built CLI on this machine.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'runtime', 'cli.js');
const isRoot = process.getuid?.() === 0;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const work = mkdtempSync(join(tmpdir(), 'faultc-tools-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function faultc(args: string[], opts: { asNobody?: boolean; env?: NodeJS.ProcessEnv } = {}) {
  const [cmd, argv] = opts.asNobody
    ? ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, cli, ...args]]
    : [process.execPath, [cli, ...args]];
  return spawnSync(cmd as string, argv as string[], { encoding: 'utf8', cwd: work, env: { ...process.env, ...opts.env } });
}

describe('faultc --version', () => {
  test('names the package, addon, libbpf and hook versions', () => {
    const r = faultc(['--version']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`faultc ${pkg.version}`);
    expect(lines[1]).toBe(`addon: ${join(root, 'native', 'build', 'Release', 'faultc_native.node')}`);
    // The libbpf the addon is linked with, as the system reports it.
    const libbpf = execFileSync('pkg-config', ['--modversion', 'libbpf'], { encoding: 'utf8' }).trim().split('.').slice(0, 2).join('.');
    expect(lines[2]).toBe(`libbpf: ${libbpf}`);
    expect(lines[3]).toMatch(/^kernel hook: (version \d+ \(this faultc speaks 1\)|none in this kernel \(this faultc speaks version 1\))$/);
  });
});

describe('faultc features', () => {
  test.skipIf(!isRoot)('as root: userfaultfd with its features, BPF, the tools', () => {
    const r = faultc(['features', '--json']);
    expect(r.status).toBe(0);
    const f = JSON.parse(r.stdout);
    expect(f.faultc.version).toBe(pkg.version);
    expect(f.userfaultfd.ok).toBe(true);
    expect(f.userfaultfd.userModeOnly).toBe(false);
    expect(f.userfaultfd.features).toContain('THREAD_ID');
    expect(f.userfaultfd.uses.THREAD_ID).toBe(true);
    expect(f.privileges.capabilities).toEqual(expect.arrayContaining(['CAP_BPF', 'CAP_PERFMON']));
    expect(f.engines.uffd).toEqual({ available: true, reason: 'ready' });
    expect(f.bpf.btf.ok).toBe(true);
    expect(f.engines.trace).toEqual({ available: true, reason: 'ready' });
    expect(f.tools.clang.detail).toMatch(/^clang: .*clang version \d+/);
    // The hook: what the kernel says, the same as --version.
    const hookLine = faultc(['--version']).stdout.split('\n')[3]!;
    expect(f.engines.kernel.available).toBe(hookLine.startsWith('kernel hook: version 1 '));
  });

  test('without privilege: which engines are out and why', () => {
    const r = faultc(['features'], { asNobody: true });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ {2}trace {14}NO {3}.*needs root or CAP_BPF and CAP_PERFMON$/m);
    expect(r.stdout).toMatch(/^ {2}euid {15}65534$/m);
    const sysctl = readFileSync('/proc/sys/vm/unprivileged_userfaultfd', 'utf8').trim();
    if (sysctl === '0') {
      // Only UFFD_USER_MODE_ONLY is open to an unprivileged process.
      expect(r.stdout).toMatch(/^ {2}userfaultfd {8}yes {2}available for user-mode faults only/m);
      expect(r.stdout).toMatch(/^ {2}uffd {15}yes {2}user-mode faults only \(run faultc run --user-mode-only, or as root\)$/m);
    }
  });
});

describe('faultc -v', () => {
  test.skipIf(!isRoot)("shows libbpf's debug log and the engines' decisions; without it, nothing", () => {
    const pfp = join(work, 'fill.pfp');
    writeFileSync(pfp, 'policy filled { region data size 64 KiB { on missing { fill 7 } } }\n');
    const quiet = faultc(['verify', pfp]);
    expect(quiet.status).toBe(0);
    expect(quiet.stderr).not.toMatch(/libbpf: |faultc: debug:/);
    const loud = faultc(['-v', 'verify', pfp]);
    expect(loud.status).toBe(0);
    expect(loud.stderr).toMatch(/^libbpf: loading object from .*filled\.trace\.bpf\.o$/m);
    const run = faultc(['run', pfp, '--region', 'data', '--engine', 'uffd', '--verbose']);
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(/^faultc: debug: engine uffd: uffd$/m);
    expect(run.stderr).toMatch(/^faultc: debug: uffd: \d+ handler thread\(s\), UFFDIO_API features 0x[0-9a-f]+, poison (yes|no)/m);
  });
});

// Made from the sources now, as scripts/setup.sh and `npm pack` make them.
const made = join(work, 'made');
function makeMan(): void {
  const r = spawnSync('node', [join(root, 'scripts', 'make-man.mjs'), '--out', made], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
}

describe('man pages', () => {
  for (const page of ['faultc.1', 'faultc-pfp.5']) {
    test(`man ./man/${page} renders without a warning`, () => {
      makeMan();
      const file = join(made, 'man', page);
      const warn = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', file], { encoding: 'utf8' });
      expect(warn.stderr).toBe('');
      const r = spawnSync('man', ['-l', file], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '80', MANPAGER: 'cat', PAGER: 'cat' } });
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^NAME\n {7}faultc/m);
      if (page === 'faultc.1') {
        for (const cmd of ['check', 'compile', 'explain', 'verify', 'run', 'trace', 'features', 'completion']) {
          expect(r.stdout).toMatch(new RegExp(`^ {3}faultc ${cmd} `, 'm'));
        }
        expect(r.stdout).toMatch(/^ {7}--write-faults\n/m);
      } else {
        expect(r.stdout).toMatch(/^ON MISSING: THE FIRST TOUCH OF A PAGE$/m);
        expect(r.stdout).toContain('# error PFP4001:');
      }
    });
  }
});

describe('bash completion', () => {
  // `faultc` on PATH as a user has it, so the script can ask it for region names.
  const bin = join(work, 'bin');
  function complete(words: string[]): string[] {
    const script = join(work, 'faultc.bash');
    writeFileSync(script, faultc(['completion']).stdout);
    const r = spawnSync(
      'bash',
      ['-c', `mkdir -p ${bin}; printf '#!/bin/sh\\nexec node ${cli} "$@"\\n' > ${bin}/faultc; chmod +x ${bin}/faultc; PATH=${bin}:$PATH; source ${script}; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _faultc; printf '%s\\n' "\${COMPREPLY[@]}"`, 'bash', ...words],
      { encoding: 'utf8', cwd: root },
    );
    expect(r.stderr).toBe('');
    return r.stdout.split('\n').filter(Boolean);
  }

  test('completes commands', () => {
    expect(complete(['faultc', 'tr'])).toEqual(['trace']);
    expect(complete(['faultc', 'c']).sort()).toEqual(['check', 'compile', 'completion']);
  });

  test('completes options of the command on the line', () => {
    expect(complete(['faultc', 'trace', '--wr'])).toEqual(['--write-faults']);
    expect(complete(['faultc', 'run', 'x.pfp', '--to'])).toEqual(['--touch']);
  });

  test('completes region names from the .pfp on the line', () => {
    expect(complete(['faultc', 'run', 'examples/debug-guard.pfp', '--region', '']).sort()).toEqual(['arena', 'guard']);
    expect(complete(['faultc', 'explain', 'examples/tiered.pfp', '--region', 'h'])).toEqual(['heap']);
  });

  test('the shipped completion file is the one the program prints', () => {
    makeMan();
    expect(readFileSync(join(made, 'completion', 'faultc.bash'), 'utf8')).toBe(faultc(['completion']).stdout);
  });
});
