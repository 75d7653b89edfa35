// Zero-copy on the uffd engine: a region whose every page is its source's
// page at the same offset, over a source on tmpfs, is a private mapping of
// the source whose missing pages fault as minor faults and are mapped from the
// page cache (UFFDIO_CONTINUE). Real userfaultfd, real tmpfs files in /dev/shm.
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { compile, loadPolicy, type FaultEvent, type Policy } from '../../runtime/index.js';
import { onTmpfs } from '../../runtime/proc/tmpfs.js';
import { closeWithFaultsPending, examplesDir, kernelReadPage, repoRoot, runChild, skipReason, tempDir } from '../helpers/uffd.js';

const PAGE = 4096;

const noRoot = skipReason('uffd-zero-copy');
const noTmpfs = onTmpfs('/dev/shm') ? null : '/dev/shm is not tmpfs';
if (noTmpfs) console.warn(`uffd-zero-copy: skipped: ${noTmpfs} (zero-copy needs a source on tmpfs)`);

let shm = '';
let cache = '';
let manifest = '';

beforeAll(async () => {
  if (noRoot || noTmpfs) return;
  execFileSync('node', [join(repoRoot, 'scripts', 'make-example-data.mjs')]);
  shm = mkdtempSync('/dev/shm/faultc-zc-');
  cache = tempDir('faultc-zc-');
  const compiled = await compile(join(examplesDir, 'snapshot-restore.pfp'), { outDir: cache });
  manifest = compiled.find((c) => c.policy === 'snapshot_restore')?.manifest ?? '';
});
afterAll(() => {
  if (shm) rmSync(shm, { recursive: true, force: true });
  if (cache) rmSync(cache, { recursive: true, force: true });
});

function image(name: string, data: Uint8Array): string {
  const path = join(shm, name);
  writeFileSync(path, data);
  return path;
}

/** The lines of /proc/self/maps that start inside [address, address + size). */
function mappings(address: bigint, size: number): string[] {
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .filter((l) => {
      const start = BigInt('0x' + l.split('-')[0]);
      return start >= address && start < address + BigInt(size);
    });
}

/** A page of region memory read by the kernel: null, or the error (EFAULT where the fault fails). */
const kernelRead = (buffer: ArrayBuffer, page: number): string | null => kernelReadPage(buffer, page, join(shm, 'sink'));

async function withPolicy<T>(source: string, zeroCopy: boolean, fn: (p: Policy) => Promise<T>): Promise<T> {
  const policy = await loadPolicy(manifest, { engine: 'uffd', sources: { image: source }, zeroCopy });
  try {
    return await fn(policy);
  } finally {
    await policy.close();
  }
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 50));

describe.skipIf(noRoot || noTmpfs !== null)('uffd engine: zero-copy from a tmpfs source', () => {
  test('the region is a private mapping of the source up to its end: every page byte for byte, the same stats and events as copies', async () => {
    const size = 1024 * 1024 + 100; // 256 whole pages and a partial one
    const data = randomBytes(size);
    const source = image('short.img', data);
    const want = new Uint8Array(257 * PAGE);
    want.set(data);
    const seen: Record<string, { stats: unknown; events: unknown[]; maps: string[] }> = {};
    for (const zeroCopy of [true, false]) {
      const events: FaultEvent[] = [];
      const seenHere = await withPolicy(source, zeroCopy, async (policy) => {
        const heap = policy.region('heap');
        heap.on('fault', (e) => events.push(e));
        await heap.touch(Uint32Array.from({ length: 257 }, (_, i) => i), { threads: 1 });
        expect(Buffer.from(heap.buffer, 0, 257 * PAGE).equals(want)).toBe(true);
        // A page wholly past the end: SIGBUS (EFAULT for the kernel), never zeros.
        expect(kernelRead(heap.buffer, 300)).toBe('EFAULT');
        await settle();
        const maps = mappings(heap.address, heap.size);
        return { stats: heap.stats(), maps };
      });
      // close() delivers what was still queued.
      // (Two handlers may queue neighbouring faults' events in either order.)
      const summary = events
        .map((e) => ({ offset: e.offset, action: e.action, pages: e.pages, error: e.error }))
        .sort((a, b) => (a.offset < b.offset ? -1 : 1));
      seen[String(zeroCopy)] = { ...seenHere, events: summary };
    }
    const zc = seen['true'];
    const copied = seen['false'];
    // Zero-copy: the file's 257 pages, then anonymous memory; copies: all anonymous.
    expect(zc?.maps[0]).toContain(source);
    expect(zc?.maps[0]).toMatch(/ rw-p 00000000 /);
    expect(zc?.maps[1]).not.toContain(source);
    expect(copied?.maps.some((l) => l.includes(source))).toBe(false);
    expect(zc?.stats).toEqual(copied?.stats);
    expect(zc?.stats).toMatchObject({ faults: 18, resolved: { copy: 17, prefetch: 240 }, sigbus: 1, errors: 1 });
    expect(zc?.events).toEqual(copied?.events);
    expect(zc?.events.at(-1)).toEqual({ offset: 300n * 4096n, action: 'sigbus', pages: 0, error: 'pastEndOfSource' });
  });

  test('a zero-copy page is the page-cache page until written: it follows the file, and a write stays private', async () => {
    const data = randomBytes(64 * PAGE);
    const source = image('shared.img', data);
    for (const zeroCopy of [true, false]) {
      writeFileSync(source, data);
      await withPolicy(source, zeroCopy, async (policy) => {
        const heap = policy.region('heap');
        const mem = new Uint8Array(heap.buffer);
        await heap.touch(Uint32Array.of(5), { threads: 1 }); // maps pages 5-20
        const fd = openSync(source, 'r+');
        try {
          writeSync(fd, Buffer.alloc(PAGE, 0xa5), 0, PAGE, 5 * PAGE);
        } finally {
          closeSync(fd);
        }
        // The file's change shows through a zero-copy page; a copy keeps what it was given.
        expect(mem[5 * PAGE + 17]).toBe(zeroCopy ? 0xa5 : data[5 * PAGE + 17]);
        // A write from the JavaScript thread (first touch of page 40: a write fault) stays in the region.
        mem.fill(0x5a, 40 * PAGE, 41 * PAGE);
        // And a write over a page mapped from the page cache copies it first.
        mem[6 * PAGE] = 0x3c;
        const file = readFileSync(source);
        expect(file.subarray(40 * PAGE, 41 * PAGE).equals(data.subarray(40 * PAGE, 41 * PAGE))).toBe(true);
        expect(file[6 * PAGE]).toBe(data[6 * PAGE]);
        expect(mem[40 * PAGE + 100]).toBe(0x5a);
        expect(mem[6 * PAGE]).toBe(0x3c);
        expect(Buffer.from(heap.buffer, 6 * PAGE + 1, PAGE - 1).equals(data.subarray(6 * PAGE + 1, 7 * PAGE))).toBe(true);
        // Pages 41-55 came with page 40's fault.
        expect(Buffer.from(heap.buffer, 41 * PAGE, 15 * PAGE).equals(data.subarray(41 * PAGE, 56 * PAGE))).toBe(true);
        await settle();
        expect(heap.stats()).toMatchObject({ faults: 2, resolved: { copy: 2, prefetch: 30 }, errors: 0 });
      });
    }
  });

  test('a hole in a sparse source reads as zeros, next to data', async () => {
    const path = join(shm, 'sparse.img');
    const second = randomBytes(128 * PAGE);
    const fd = openSync(path, 'w');
    try {
      ftruncateSync(fd, 256 * PAGE);
      writeSync(fd, second, 0, second.length, 128 * PAGE); // pages 0-127 stay a hole
    } finally {
      closeSync(fd);
    }
    await withPolicy(path, true, async (policy) => {
      const heap = policy.region('heap');
      // Page 120 faults on the hole; its prefetch runs into data at page 128.
      await heap.touch(Uint32Array.from({ length: 256 }, (_, i) => (i + 120) % 256), { threads: 1 });
      expect(Buffer.from(heap.buffer, 0, 128 * PAGE).equals(Buffer.alloc(128 * PAGE))).toBe(true);
      expect(Buffer.from(heap.buffer, 128 * PAGE, 128 * PAGE).equals(second)).toBe(true);
      await settle();
      const st = heap.stats();
      expect(st.errors).toBe(0);
      expect(st.sigbus).toBe(0);
      expect(st.resolved.copy + st.resolved.prefetch).toBe(256);
    });
  });

  test('4 threads on random pages, reading and writing: every page right, the file untouched', async () => {
    const data = randomBytes(2048 * PAGE);
    const source = image('stress.img', data);
    const order = Uint32Array.from({ length: 2048 }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [order[i], order[j]] = [order[j] as number, order[i] as number];
    }
    await withPolicy(source, true, async (policy) => {
      const heap = policy.region('heap');
      const r = await heap.touch(order.subarray(0, 1024), { threads: 4 });
      expect(r.sum).toBe([...order.subarray(0, 1024)].reduce((n, p) => n + (data[p * PAGE] as number), 0));
      await heap.touch(order.subarray(1024), { threads: 4, write: true, value: 0xee });
      const mem = Buffer.from(heap.buffer, 0, 2048 * PAGE);
      const want = Buffer.from(data);
      for (const p of order.subarray(1024)) want[p * PAGE] = 0xee;
      expect(mem.equals(want)).toBe(true);
      expect(readFileSync(source).equals(data)).toBe(true);
      await settle();
      const st = heap.stats();
      expect(st.errors).toBe(0);
      expect(st.resolved.copy + st.resolved.prefetch).toBe(2048);
    });
  });

  test('close() with minor faults pending resolves them first: every thread reads its page', async () => {
    const data = randomBytes(1024 * PAGE);
    const source = image('pending.img', data);
    const policy = await loadPolicy(manifest, { engine: 'uffd', sources: { image: source } });
    const { pages, sum, events } = await closeWithFaultsPending(policy, 'heap');
    expect(sum).toBe(pages.reduce((n, p) => n + (data[p * PAGE] as number), 0));
    expect(new Set(events.map((e) => e.offset))).toEqual(new Set(pages.map((p) => BigInt(p) * 4096n)));
  });

  test('a source truncated while mapped: a page past the new end gets SIGBUS (the rule of mmap), never zeros', () => {
    const path = join(shm, 'trunc.img');
    copyFileSync(join(examplesDir, 'heap.img'), path);
    const r = runChild({
      policy: manifest,
      options: { engine: 'uffd', sources: { image: path } },
      region: 'heap',
      page: 2000,
      truncate: { path, size: 4096 },
    });
    expect(r.signal).toBe('SIGBUS');
  });
});
