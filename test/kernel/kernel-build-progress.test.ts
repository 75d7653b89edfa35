// kernel/build.sh shows how far make has come on a terminal only. A stand-in
// `make` on PATH prints kbuild's short lines (and nothing under -s, as make
// does), so the script's own choice is what is tested, in seconds, without
// building a kernel: under script(1) the steps are counted on one line (of as
// many as the last build took), through a pipe make stays silent.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'faultc-kbuild-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const hasScript = spawnSync('script', ['--version']).status === 0;
if (!hasScript) console.warn('kernel-build-progress: skipped: script(1) (util-linux) is not installed');

const bin = join(work, 'bin');
const tree = join(work, 'tree');
const cache = join(work, 'cache');
mkdirSync(bin);
mkdirSync(join(tree, 'arch', 'x86', 'boot'), { recursive: true });
writeFileSync(join(tree, 'Makefile'), '# a stand-in kernel tree\n');
// The fragment's options as the configuration: verify_config passes, configure is not needed.
copyFileSync(join(root, 'kernel', 'config.fragment'), join(tree, '.config'));
writeFileSync(
  join(bin, 'make'),
  '#!/bin/sh\nfor a in "$@"; do [ "$a" = -s ] && exit 0; done\nfor f in kernel/fork.o mm/memory.o fs/exec.o mm/userfaultfd.o; do echo "  CC      $f"; done\necho "mm/memory.c:1: warning: a warning stays on its own line"\necho "  LD      vmlinux"\necho "  BUILD   arch/x86/boot/bzImage"\n',
);
chmodSync(join(bin, 'make'), 0o755);
const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, FAULTC_CACHE: cache };
const build = join(root, 'kernel', 'build.sh');

describe.skipIf(!hasScript)('kernel/build.sh progress', () => {
  test('on a terminal: the steps counted in place, warnings kept; the next build shows a percentage', () => {
    const run = () => spawnSync('script', ['-qec', `'${build}' --dev '${tree}'`, '/dev/null'], { encoding: 'utf8', env, input: '', timeout: 60_000 });
    const first = run();
    expect(first.status).toBe(0);
    expect(first.stdout).toContain('\r\x1b[Kbuild: 1 steps, ');
    expect(first.stdout).toContain('\r\x1b[Kbuild: 6 steps, ');
    expect(first.stdout).toMatch(/: BUILD arch\/x86\/boot\/bzImage\r\x1b\[K/);
    expect(first.stdout).toContain('\r\x1b[Kmm/memory.c:1: warning: a warning stays on its own line\r\n');
    expect(first.stdout).toContain(`${tree}/arch/x86/boot/bzImage\r\n`);
    expect(readFileSync(join(cache, 'kernel', 'build-steps'), 'utf8')).toBe('6\n');
    const second = run();
    expect(second.status).toBe(0);
    expect(second.stdout).toContain('\r\x1b[Kbuild: 3 of 6 steps (50%), ');
  });

  test('through a pipe: make -s, only the log line and the image path', () => {
    const r = spawnSync(build, ['--dev', tree], { encoding: 'utf8', env, timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(`build: make -j${process.env.FAULTC_JOBS ?? spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()} bzImage in ${tree}\n`);
    expect(r.stdout).toBe(`${tree}/arch/x86/boot/bzImage\n`);
  });
});
