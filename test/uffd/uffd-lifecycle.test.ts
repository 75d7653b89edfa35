// The uffd engine's lifecycle with real userfaultfd: notify events, dirty
// tracking from JavaScript writes, close() with faults pending, and no
// threads or fds left behind.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadPolicy, type FaultEvent, type RegionStats } from '../../runtime/index.js';
import { touchAnonymous } from '../../runtime/engines/uffd.js';
import { closeWithFaultsPending, countEntries, examplesDir, repoRoot, skipReason, tempDir } from '../helpers/uffd.js';

const skip = skipReason('uffd-lifecycle');
let cacheDir = '';
beforeAll(() => {
  execFileSync('node', [join(repoRoot, 'scripts', 'make-example-data.mjs')]);
  cacheDir = tempDir('faultc-uffd-life-');
});
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

const heapImg = () => readFileSync(join(examplesDir, 'heap.img'));
const settle = () => new Promise((r) => setTimeout(r, 30));

describe.skipIf(skip)('uffd engine: lifecycle', () => {
  test('notify events: one per fault, with names, page, thread and pages resolved', async () => {
    const policy = await loadPolicy(join(examplesDir, 'snapshot-restore.pfp'), { engine: 'uffd', cacheDir });
    const events: FaultEvent[] = [];
    let stats: RegionStats | undefined;
    const heap = policy.region('heap');
    try {
      heap.on('fault', (e) => events.push(e));
      await heap.touch(Uint32Array.from({ length: 1024 }, (_, i) => i), { threads: 1 });
      stats = heap.stats();
      expect(policy.lostEvents()).toBe(0);
      // Delivered while the policy runs (in batches), not only at close().
      for (let i = 0; i < 100 && events.length < 64; i++) await settle();
      expect(events).toHaveLength(64);
    } finally {
      await policy.close();
    }
    expect(stats?.faults).toBe(64); // 1024 pages, 16 per fault
    expect(events).toHaveLength(64);
    expect(events.reduce((n, e) => n + e.pages, 0)).toBe(1024);
    // Two handler threads may queue their events out of order: sort by page.
    events.sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
    for (const [i, e] of events.entries()) {
      expect(e).toMatchObject({ policy: 'snapshot_restore', region: 'heap', handler: 'missing', access: 'read', action: 'copy', pages: 16, error: null, pid: process.pid });
      expect(e.offset).toBe(BigInt(i) * 16n * 4096n);
      expect(e.address).toBe(heap.address + e.offset);
      expect(e.tid).toBeGreaterThan(0);
      expect(e.tid).not.toBe(process.pid); // a native toucher thread, not the JS thread
    }
  });

  test('dirty tracking is exact after writes from JavaScript, and after resetDirty', async () => {
    const policy = await loadPolicy(join(examplesDir, 'tiered.pfp'), { engine: 'uffd', cacheDir });
    try {
      const heap = policy.region('heap');
      const mem = new Uint8Array(heap.buffer);
      const img = heapImg();
      // Reads first: present pages, nothing dirty.
      for (let p = 0; p < 512; p += 7) expect(mem[p * 4096 + 11]).toBe(p < 256 ? img[p * 4096 + 11] : 0);
      expect(heap.dirtyPages()).toEqual([]);
      // Writes to read pages, to missing pages, twice to one page.
      const written = [3, 7, 300, 301, 1500, 2047];
      for (const p of written) mem[p * 4096 + 100] = 0xee;
      mem[7 * 4096 + 200] = 0xdd;
      expect(heap.dirtyPages()).toEqual(written);
      expect(mem[3 * 4096 + 100]).toBe(0xee);
      expect(mem[3 * 4096 + 99]).toBe(img[3 * 4096 + 99]); // the copied page kept its other bytes
      heap.resetDirty();
      expect(heap.dirtyPages()).toEqual([]);
      mem[300 * 4096] = 1;
      mem[5 * 4096] = 2;
      expect(heap.dirtyPages()).toEqual([5, 300]);
      expect(mem[300 * 4096 + 100]).toBe(0xee); // re-protecting lost nothing
      const st = heap.stats();
      expect(st.writeFaults).toBe(written.length + 2);
      expect(st.errors).toBe(0);
    } finally {
      await policy.close();
    }
  });

  test('close() with faults pending resolves them first: no thread hangs, nothing is lost', async () => {
    const policy = await loadPolicy(join(examplesDir, 'snapshot-restore.pfp'), { engine: 'uffd', cacheDir });
    // 8 threads, each faulting on its own page 64 pages apart: all stay pending.
    const { pages, sum, events, buffer } = await closeWithFaultsPending(policy, 'heap');
    const img = heapImg();
    expect(sum).toBe(pages.reduce((n, p) => n + (img[p * 4096] ?? 0), 0));
    expect(events).toHaveLength(8);
    expect(new Set(events.map((e) => e.offset))).toEqual(new Set(pages.map((p) => BigInt(p) * 4096n)));
    expect(buffer.byteLength).toBe(0); // detached: JavaScript cannot reach the unmapped memory
  });

  test('no threads or fds are left after close()', async () => {
    // Start libuv's pool first: it is not the engine's.
    await touchAnonymous(16, 1, true);
    await settle();
    const tasks0 = countEntries('/proc/self/task');
    const fds0 = countEntries('/proc/self/fd');
    for (let round = 0; round < 3; round++) {
      const policy = await loadPolicy(join(examplesDir, 'tiered.pfp'), { engine: 'uffd', cacheDir, handlerThreads: 4 });
      const heap = policy.region('heap');
      await heap.touch(Uint32Array.from({ length: 300 }, (_, i) => i * 3), { threads: 3, write: true, value: 9 });
      expect(countEntries('/proc/self/task')).toBe(tasks0 + 4);
      await policy.close();
    }
    await settle();
    expect(countEntries('/proc/self/task')).toBe(tasks0);
    expect(countEntries('/proc/self/fd')).toBe(fds0);
  });
});
