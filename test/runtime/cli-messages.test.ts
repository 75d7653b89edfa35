// The messages a new user meets when something is wrong, each run as a user
// runs it (the built CLI, dist/) with its exact exit status and text: what
// happened and what to do, never a made-up place, a faultc "bug" that is the
// machine's, bytes of a binary or an option name of the library.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'runtime', 'cli.js');
const work = mkdtempSync(join(tmpdir(), 'faultc-messages-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.log('cli-messages: 4 tests skipped: they need root (userfaultfd, BPF loads, a file root cannot write)');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function faultc(args: string[], env: Record<string, string> = {}, prefix: string[] = []): Run {
  const [cmd, ...pre] = prefix.length ? prefix : [process.execPath];
  const r = spawnSync(cmd!, [...pre, ...(prefix.length ? [process.execPath] : []), cli, ...args], {
    cwd: work,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const GUARD = join(root, 'examples', 'debug-guard.pfp');
const TIERED = 'tiered.pfp';

beforeAll(() => {
  // A copy beside the working folder, so names print as a user typed them.
  copyFileSync(join(root, 'examples', 'tiered.pfp'), join(work, TIERED));
  copyFileSync(join(root, 'examples', 'heap.img'), join(work, 'heap.img'));
});

describe('compile and check', () => {
  test('clang not installed: said once, as the machine lacking a compiler (exit 3), not as a faultc bug', () => {
    const r = faultc(['compile', TIERED, '-o', 'out-noclang'], { FAULTC_CLANG: 'faultc-no-such-clang' });
    expect(r.stderr).toBe(
      'tiered.pfp: error PFP9005: the C compiler `faultc-no-such-clang` is not installed: building the BPF objects (*.bpf.o) needs it\n' +
        'hint: install it (Debian: apt-get install clang llvm libbpf-dev), or name another compiler with FAULTC_CLANG\n\n1 error\n',
    );
    expect(r.stdout).toBe('');
    expect(r.status).toBe(3);
  });

  test('compile of a binary file: no bytes echoed, it is named as not a policy file', () => {
    writeFileSync(join(work, 'prog.pfp'), Buffer.concat([readFileSync(process.execPath).subarray(0, 256), Buffer.from([0xff, 0xfe, 0])]));
    const r = faultc(['compile', 'prog.pfp', '-o', 'out-bin']);
    expect(r.stderr).toBe('prog.pfp: error PFP1009: not a policy file: its bytes are not UTF-8 text (a binary file?)\nhint: name the .pfp source file\n\n1 error\n');
    expect(r.status).toBe(1);
  });

  test('check of a file that does not exist: no line:column, no errno code', () => {
    const r = faultc(['check', 'nope.pfp']);
    expect(r.stderr).toBe('nope.pfp: error PFP1010: cannot read the file: no such file or folder\n\n1 error\n');
    expect(r.status).toBe(4);
  });

  test('--policy naming no policy of the file: a usage error (exit 2), not a compile error at 1:1', () => {
    const r = faultc(['compile', TIERED, '--policy', 'nope', '-o', 'out-nope']);
    expect(r.stderr).toBe('tiered.pfp: error PFP9002: no policy named `nope` in this file (it has: tiered)\n\n1 error\n');
    expect(r.status).toBe(2);
  });

  test('a missing last `}`: reported at the `{` left open, with where the file ends', () => {
    writeFileSync(join(work, 'open.pfp'), 'policy p {\n  region a size 1 MiB {\n    on missing { zero }\n  }\n');
    const r = faultc(['check', 'open.pfp']);
    expect(r.stderr).toBe(
      [
        'open.pfp:1:10: error PFP2011: this `{` is never closed: the file ends (line 5) before its `}`',
        '1 | policy p {',
        '  |          ^',
        'open.pfp:5:1: note: the file ends here',
        '5 | ',
        '  | ^',
        'hint: add `}` where the block ends',
        '',
        '1 error',
        '',
      ].join('\n'),
    );
    expect(r.status).toBe(1);
  });

  test('no cascade after recovery: a misspelt `region` is one error, not a second "expected policy" at a `}`', () => {
    writeFileSync(join(work, 'typo.pfp'), 'policy p {\n  regin a size 1 MiB {\n    on missing { zero }\n  }\n  region b size 1 MiB { on missing { zero } }\n}\n');
    const r = faultc(['check', 'typo.pfp']);
    expect(r.stderr).toBe(
      'typo.pfp:2:3: error PFP2007: expected `source` or `region` but found name `regin`\n2 |   regin a size 1 MiB {\n  |   ^~~~~\nhint: did you mean `region`?\n\n1 error\n',
    );
    expect(r.status).toBe(1);
  });

  test('several files: a total under them', () => {
    writeFileSync(join(work, 'bad1.pfp'), 'policy p {\n  region a size 1 MiB { on missing { zeroo } }\n}\n');
    const r = faultc(['check', 'bad1.pfp', TIERED, 'nope.pfp']);
    expect(r.stderr.split('\n').filter(Boolean).at(-1)).toBe('3 files checked: 2 with errors; 2 errors, 0 warnings in all');
    expect(r.stdout).toBe('tiered.pfp: ok: tiered (1 region)\n');
    expect(r.status).toBe(4);
  });
});

describe('run', () => {
  test('a misspelt option is named with the likely one, not hidden behind a missing --region', () => {
    const r = faultc(['run', GUARD, '--regoin', 'arena']);
    expect(r.stderr).toBe("faultc run: unknown option '--regoin'\n(Did you mean --region?)\n(faultc run --help lists the options)\n");
    expect(r.status).toBe(2);
  });

  test('no --region: the regions of the policy are listed', () => {
    const r = faultc(['run', GUARD]);
    expect(r.stderr).toBe('faultc run: name the region to map with --region <id> (regions: arena, guard)\n');
    expect(r.status).toBe(2);
  });

  test('--engine trace: why it cannot back a region, and what to run instead', () => {
    const r = faultc(['run', GUARD, '--region', 'arena', '--engine', 'trace']);
    expect(r.stderr).toBe(
      'faultc run: the trace engine only watches faults, it does not resolve them, so it cannot back a region: use --engine kernel, uffd or auto here, and faultc trace --policy FILE -- COMMAND to watch a program\'s faults against the policy\n',
    );
    expect(r.status).toBe(2);
  });

  test.skipIf(!isRoot)('userfaultfd refused: the fixes name the command line flag, not the API option', (ctx) => {
    // Another user, without capabilities: the privilege check refuses userfaultfd(2).
    const cache = join(work, 'nobody-cache');
    mkdirSync(cache, { recursive: true });
    chmodSync(cache, 0o777);
    chmodSync(work, 0o755);
    const setpriv = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'];
    if (spawnSync('setpriv', ['--version']).status !== 0) return ctx.skip('setpriv (util-linux) is not installed');
    const r = faultc(['run', GUARD, '--region', 'arena', '--engine', 'uffd'], { XDG_CACHE_HOME: cache, TMPDIR: cache }, setpriv);
    if (!r.stderr.includes('this process lacks CAP_SYS_PTRACE')) return ctx.skip(`userfaultfd is not refused for privilege here: ${r.stderr.trim() || 'it works'}`);
    expect(r.stderr).toMatch(/^faultc run: userfaultfd is refused here: userfaultfd\(2\) fails with EPERM: this process lacks CAP_SYS_PTRACE /);
    expect(r.stderr).toContain('; or ask for user-mode faults only (--user-mode-only; faults inside system calls then fail with EFAULT);');
    expect(r.stderr).not.toMatch(/userModeOnly|engine: '/);
    expect(r.status).toBe(3);
  });
});

describe('verify and trace', () => {
  test.skipIf(!isRoot)('verify of a .fault.bpf.o on a kernel without the hook: needs the faultc kernel (exit 3), not REJECTED', async (ctx) => {
    const { detectKernelEngine } = await import('../../runtime/engines/detect.js');
    if (await detectKernelEngine()) return ctx.skip('this kernel has the faultc hook: the object verifies here');
    const c = faultc(['compile', TIERED, '-o', 'out-verify']);
    expect(c.status).toBe(0);
    const r = faultc(['verify', 'out-verify/tiered.fault.bpf.o']);
    expect(r.stderr).toBe(
      "faultc verify: out-verify/tiered.fault.bpf.o is a kernel-engine program: it runs at the faultc kernel's fault hook, which this kernel does not have, so only the faultc kernel can verify it (boot the kernel built from kernel/); its trace program verifies on this kernel: faultc verify out-verify/tiered.trace.bpf.o\n",
    );
    expect(r.stdout).toBe('');
    expect(r.status).toBe(3);
  });

  test.skipIf(!isRoot)('an unwritable --heatmap path: said before tracing, the path once, in words', () => {
    const r = faultc(['trace', '--heatmap', join(work, 'no', 'dir', 'h.svg'), '--', 'true']);
    expect(r.stderr).toBe(`faultc trace: cannot write ${join(work, 'no', 'dir', 'h.svg')}: no such file or folder\n`);
    expect(r.status).toBe(4);
  });

  test.skipIf(!isRoot)('--policy naming a file that does not exist: cannot read (exit 4), not "does not compile"', () => {
    const r = faultc(['trace', '--policy', 'nope.pfp', '--', 'true']);
    expect(r.stderr).toBe('faultc trace: cannot read nope.pfp: no such file or folder\n');
    expect(r.status).toBe(4);
  });
});
