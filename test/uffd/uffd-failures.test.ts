// Failures on the uffd engine, with real userfaultfd and real files: SIGBUS
// where the policy or a source says so (in child processes, which it kills),
// never zeros; a source that shrinks after loading; clear errors for a taken
// fixed address and for a process without the privilege userfaultfd needs.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { compile, loadPolicy, type FaultEvent } from '../../runtime/index.js';
import type { UffdInstance } from '../../runtime/engines/uffd.js';
import { examplesDir, kernelReadPage, repoRoot, runChild, skipReason, tempDir } from '../helpers/uffd.js';

const skip = skipReason('uffd-failures');
let dir = '';
let snapshotManifest = '';
let guardManifest = '';

beforeAll(async () => {
  execFileSync('node', [join(repoRoot, 'scripts', 'make-example-data.mjs')]);
  dir = tempDir('faultc-uffd-fail-');
  chmodSync(dir, 0o755);
  const compiled = [
    ...(await compile(join(examplesDir, 'snapshot-restore.pfp'), { outDir: dir })),
    ...(await compile(join(examplesDir, 'debug-guard.pfp'), { outDir: dir })),
  ];
  snapshotManifest = compiled.find((c) => c.policy === 'snapshot_restore')?.manifest ?? '';
  guardManifest = compiled.find((c) => c.policy === 'debug_guard')?.manifest ?? '';
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of the first `size` bytes of heap.img. */
function shortImage(name: string, size: number): string {
  const path = join(dir, name);
  writeFileSync(path, readFileSync(join(examplesDir, 'heap.img')).subarray(0, size));
  return path;
}

/** A page of region memory read by the kernel: null, or the error (EFAULT where the fault fails). */
const kernelRead = (buffer: ArrayBuffer, page: number): string | null => kernelReadPage(buffer, page, join(dir, 'sink'));

describe.skipIf(skip)('uffd engine: failures', () => {
  test('a guard page (rule sigbus) kills the touching thread with SIGBUS: UFFDIO_POISON', () => {
    const r = runChild({ policy: guardManifest, options: { engine: 'uffd' }, region: 'guard', page: 0 });
    expect(r.signal).toBe('SIGBUS');
    expect(r.out).toBeNull();
  });

  test('a guard page kills with SIGBUS through the tgkill fallback too', async () => {
    const r = runChild({ policy: guardManifest, options: { engine: 'uffd', forceSigbusFallback: true }, region: 'guard', page: 0 });
    expect(r.signal).toBe('SIGBUS');
    // The fallback is the one in use: the engine does not poison.
    for (const force of [true, false]) {
      const policy = await loadPolicy(guardManifest, { engine: 'uffd', forceSigbusFallback: force });
      try {
        const { poison, features } = (policy.engineInstance as UffdInstance).native.info();
        const kernelHasPoison = (features & (1n << 14n)) !== 0n;
        expect(poison).toBe(!force && kernelHasPoison);
      } finally {
        await policy.close();
      }
    }
  });

  test('the fill region next to the guard survives a touch (the child helper works)', () => {
    const r = runChild({ policy: guardManifest, options: { engine: 'uffd' }, region: 'arena', page: 5 });
    expect(r.signal).toBeNull();
    expect(r.out?.ok).toBe(true);
  });

  test('a source shorter than the region: the partial page ends in zeros, a page wholly past the end gets SIGBUS', async () => {
    const size = 1024 * 1024 + 100;
    const image = shortImage('short.img', size);
    const policy = await loadPolicy(snapshotManifest, { engine: 'uffd', sources: { image } });
    const events: FaultEvent[] = [];
    try {
      const heap = policy.region('heap');
      heap.on('fault', (e) => events.push(e));
      await heap.touch(Uint32Array.from({ length: 257 }, (_, i) => i), { threads: 1 });
      const mem = new Uint8Array(heap.buffer, 0, 257 * 4096);
      const want = new Uint8Array(257 * 4096);
      want.set(readFileSync(image));
      expect(Buffer.compare(Buffer.from(mem), Buffer.from(want))).toBe(0);
      // A kernel access to page 300 (wholly past the end) fails instead of reading zeros.
      expect(kernelRead(heap.buffer, 300)).toBe('EFAULT');
      await new Promise((r) => setTimeout(r, 50));
      const st = heap.stats();
      expect(st.sigbus).toBe(1);
      expect(st.errors).toBe(1);
    } finally {
      await policy.close();
    }
    const err = events.find((e) => e.error !== null);
    expect(err).toMatchObject({ policy: 'snapshot_restore', region: 'heap', action: 'sigbus', error: 'pastEndOfSource', offset: 300n * 4096n });
    // And from user space, the thread dies with SIGBUS.
    const r = runChild({ policy: snapshotManifest, options: { engine: 'uffd', sources: { image } }, region: 'heap', page: 300 });
    expect(r.signal).toBe('SIGBUS');
  });

  test('a source truncated after loading: SIGBUS and an error event, never zeros', async () => {
    const image = shortImage('trunc.img', 8 * 1024 * 1024);
    // Copies (a source on tmpfs would be mapped: uffd-zero-copy.test.ts).
    const policy = await loadPolicy(snapshotManifest, { engine: 'uffd', sources: { image }, zeroCopy: false });
    const events: FaultEvent[] = [];
    try {
      const heap = policy.region('heap');
      heap.on('fault', (e) => events.push(e));
      // Page 960 maps the source's page cache around it (pages 768-1023) before the truncation...
      expect(kernelRead(heap.buffer, 960)).toBeNull();
      truncateSync(image, 1024 * 1024);
      // ...so the copy for page 1000 itself finds the pages gone (EFAULT), and pread says why.
      expect(kernelRead(heap.buffer, 1000)).toBe('EFAULT');
      // The page is poisoned, not zero-filled: a second read fails the same way.
      expect(kernelRead(heap.buffer, 1000)).toBe('EFAULT');
      // Pages still in the file are served as before.
      expect(kernelRead(heap.buffer, 10)).toBeNull();
      expect(Buffer.from(heap.buffer, 10 * 4096, 4096).equals(readFileSync(image).subarray(10 * 4096, 11 * 4096))).toBe(true);
      await new Promise((r) => setTimeout(r, 50));
      expect(heap.stats().errors).toBeGreaterThanOrEqual(1);
    } finally {
      await policy.close();
    }
    expect(events.some((e) => e.error === 'sourceRead' && e.offset === 1000n * 4096n && e.action === 'sigbus')).toBe(true);
    const copy = join(dir, 'trunc2.img');
    copyFileSync(join(examplesDir, 'heap.img'), copy);
    const r = runChild({
      policy: snapshotManifest,
      options: { engine: 'uffd', sources: { image: copy } },
      region: 'heap',
      page: 2000,
      truncate: { path: copy, size: 4096 },
    });
    expect(r.signal).toBe('SIGBUS');
  });

  test('a region `at` an address already mapped fails with a clear EEXIST error', async () => {
    const a = await loadPolicy(join(examplesDir, 'postcopy.pfp'), { engine: 'uffd', cacheDir: dir });
    const b = await loadPolicy(join(examplesDir, 'postcopy.pfp'), { engine: 'uffd', cacheDir: dir });
    try {
      expect(a.region('guest').address).toBe(0x7e00_0000_0000n);
      expect(() => b.region('guest')).toThrow(expect.objectContaining({ code: 'FAULTC_UFFD_EEXIST', message: expect.stringMatching(/0x7e0000000000.*already mapped/) }));
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('without CAP_SYS_PTRACE and with vm.unprivileged_userfaultfd=0: a clear EPERM error naming the missing privilege', () => {
    const sysctl = readFileSync('/proc/sys/vm/unprivileged_userfaultfd', 'utf8').trim();
    if (sysctl !== '0') {
      console.warn(`skipped: vm.unprivileged_userfaultfd is ${sysctl}, so an unprivileged process may use userfaultfd`);
      return;
    }
    const have = spawnSync('setpriv', ['--version']);
    if (have.status !== 0) {
      console.warn('skipped: setpriv (util-linux) is not installed');
      return;
    }
    const r = runChild(
      { policy: guardManifest, options: { engine: 'uffd' }, region: 'arena', page: 0 },
      ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--'],
    );
    expect(r.signal).toBeNull();
    expect(r.out).toMatchObject({ ok: false, code: 'FAULTC_UFFD_EPERM' });
    expect(r.out?.message).toMatch(/lacks CAP_SYS_PTRACE/);
    expect(r.out?.message).toMatch(/vm\.unprivileged_userfaultfd is 0/);
  });
});
