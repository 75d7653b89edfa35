// The uffd engine under concurrency, with real userfaultfd: two threads on
// one page, prefetch racing faults (EEXIST), and a uffd-stress style run.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadPolicy, type Policy } from '../../runtime/index.js';
import { comparePage, expectPage, SourceReader } from '../../runtime/run/verify-contents.js';
import { examplesDir, repoRoot, skipReason, tempDir } from '../helpers/uffd.js';

const skip = skipReason('uffd-concurrency');
let cacheDir = '';
beforeAll(() => {
  execFileSync('node', [join(repoRoot, 'scripts', 'make-example-data.mjs')]);
  cacheDir = tempDir('faultc-uffd-conc-');
});
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

/** Every page in `pages` holds what the policy says. */
function mismatches(policy: Policy, regionId: string, pages: Iterable<number>): number {
  const region = policy.region(regionId);
  const sources = new SourceReader(policy.sourcePaths);
  const mem = new Uint8Array(region.buffer);
  let bad = 0;
  try {
    for (const p of new Set(pages)) {
      const e = expectPage(policy.manifest.ir, region.index, p, region.address, false, sources);
      if (e.kind !== 'bytes' || comparePage(mem, p, e.bytes)) bad++;
    }
  } finally {
    sources.close();
  }
  return bad;
}

describe.skipIf(skip)('uffd engine: concurrency', () => {
  test('two threads faulting the same pages: each page resolved once, both threads see it', async () => {
    const policy = await loadPolicy(join(examplesDir, 'debug-guard.pfp'), { engine: 'uffd', cacheDir });
    try {
      const arena = policy.region('arena');
      const n = 512;
      const pages = Array.from({ length: n }, (_, i) => i);
      // Thread 0 gets the first copy of the list, thread 1 the second: the same pages, in step.
      const r = await arena.touch(Uint32Array.from([...pages, ...pages]), { threads: 2 });
      expect(r.sum).toBe(2 * n * 0xa5);
      const st = arena.stats();
      expect(st.resolved.fill).toBe(n);
      expect(st.faults).toBeGreaterThanOrEqual(n);
      // Every second fault on a page found it present (or never faulted at all).
      expect(st.raced).toBe(st.faults - n);
      expect(st.errors).toBe(0);
      expect(mismatches(policy, 'arena', pages)).toBe(0);
    } finally {
      await policy.close();
    }
  });

  test('prefetch racing faults from another thread (EEXIST): every page resolved exactly once, bytes right', async () => {
    const policy = await loadPolicy(join(examplesDir, 'snapshot-restore.pfp'), { engine: 'uffd', cacheDir });
    try {
      const heap = policy.region('heap');
      const n = 4096; // 16 MiB of the 64 MiB region
      const up = Array.from({ length: n }, (_, i) => i);
      const down = [...up].reverse();
      // One thread climbs (prefetching ahead into the other's path), the other descends.
      await heap.touch(Uint32Array.from([...up, ...down]), { threads: 2 });
      const st = heap.stats();
      // No page was counted twice: faults + prefetch cover the pages touched, and prefetch
      // may run past n (pages ahead of the last fault) but never beyond the region.
      expect(st.resolved.copy + st.resolved.prefetch).toBeGreaterThanOrEqual(n);
      expect(st.resolved.copy + st.resolved.prefetch).toBeLessThanOrEqual(n + 15);
      expect(st.errors).toBe(0);
      expect(st.raced).toBeGreaterThan(0);
      expect(mismatches(policy, 'heap', up)).toBe(0);
    } finally {
      await policy.close();
    }
  });

  test('stress: 4 threads touch random pages of a shared region 40000 times, all contents right', async () => {
    const policy = await loadPolicy(join(examplesDir, 'postcopy.pfp'), { engine: 'uffd', cacheDir });
    try {
      const guest = policy.region('guest');
      const nPages = guest.size / 4096;
      let s = 0x9e3779b9;
      const touches = new Uint32Array(40_000);
      for (let i = 0; i < touches.length; i++) {
        s ^= s << 13;
        s >>>= 0;
        s ^= s >>> 17;
        s ^= s << 5;
        s >>>= 0;
        // Never the 16-page guard (its rule is sigbus).
        touches[i] = 16 + (s % (nPages - 16));
      }
      await guest.touch(touches, { threads: 4 });
      const st = guest.stats();
      expect(st.errors).toBe(0);
      expect(st.sigbus).toBe(0);
      expect(mismatches(policy, 'guest', touches)).toBe(0);
    } finally {
      await policy.close();
    }
  });
});
