// `defer` with a user-space handler on the uffd engine (region.onDefer):
// the page's bytes, zeros or SIGBUS as the handler answers; SIGBUS with
// deferTimeout or deferFailed when it answers late or fails; zeros without
// a handler (the behaviour before handlers existed). Pages that may fail are
// read by the kernel from a libuv thread (write(2) from region memory), so
// the JavaScript thread stays free to run the handler and an unresolved page
// gives EFAULT rather than killing the test.
import { open } from 'node:fs/promises';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadPolicy, type DeferredFault, type FaultEvent, type LoadPolicyOptions, type Policy } from '../../runtime/index.js';
import { skipReason, tempDir } from '../helpers/uffd.js';

const PAGE = 4096;
const skip = skipReason('uffd-defer');
let dir = '';
let pfp = '';

beforeAll(() => {
  if (skip) return;
  dir = tempDir('faultc-defer-');
  pfp = join(dir, 'deferred.pfp');
  writeFileSync(pfp, 'policy deferred {\n  region r size 64 pages {\n    on missing { if page < 32 { defer notify } else { fill 0x5A } }\n  }\n}\n');
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function load(opts: LoadPolicyOptions = {}): Promise<Policy> {
  return loadPolicy(pfp, { engine: 'uffd', cacheDir: join(dir, 'cache'), ...opts });
}

/** The page as the kernel reads it from another thread: null, or the error code. */
async function kernelRead(buffer: ArrayBuffer, page: number): Promise<string | null> {
  const f = await open(join(dir, 'sink'), 'w');
  try {
    await f.write(new Uint8Array(buffer, page * PAGE, PAGE));
    return null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'error';
  } finally {
    await f.close();
  }
}

const pattern = (page: number): Uint8Array => Uint8Array.from({ length: PAGE }, (_, i) => (page * 7 + i) & 0xff);
const settle = (ms = 50): Promise<void> => new Promise((r) => setTimeout(r, ms));

function collect(policy: Policy): FaultEvent[] {
  const events: FaultEvent[] = [];
  policy.region('r').on('fault', (e) => events.push(e));
  return events;
}

describe.skipIf(skip)('defer with a user-space handler (uffd engine)', () => {
  test('without a handler a deferred fault maps zeros, counted as deferred', async () => {
    const policy = await load();
    try {
      const r = policy.region('r');
      await r.touch(Uint32Array.from({ length: 32 }, (_, i) => i), { threads: 2 });
      expect(Buffer.from(r.buffer, 0, 32 * PAGE).every((b) => b === 0)).toBe(true);
      expect(r.stats()).toMatchObject({ deferred: 32, sigbus: 0, errors: 0 });
    } finally {
      await policy.close();
    }
  });

  test('the handler\'s bytes for every deferred page, 4 faulting threads; other rules untouched', async () => {
    const policy = await load();
    const asked: DeferredFault[] = [];
    const events = collect(policy);
    try {
      const r = policy.region('r').onDefer(async (f) => {
        asked.push(f);
        await new Promise((res) => setImmediate(res));
        return pattern(Number(f.offset / 4096n));
      });
      await r.touch(Uint32Array.from({ length: 64 }, (_, i) => i), { threads: 4 });
      for (let p = 0; p < 32; p++) expect(Buffer.from(r.buffer, p * PAGE, PAGE).equals(pattern(p)), `page ${p}`).toBe(true);
      expect(Buffer.from(r.buffer, 32 * PAGE).every((b) => b === 0x5a)).toBe(true);
      expect(asked.map((f) => Number(f.offset / 4096n)).sort((a, b) => a - b)).toEqual(Array.from({ length: 32 }, (_, i) => i));
      expect(asked.every((f) => f.region === 'r' && f.access === 'read' && f.address === r.address + f.offset && f.tid > 0)).toBe(true);
      expect(r.stats()).toMatchObject({ deferred: 32, resolved: { fill: 32 }, sigbus: 0, errors: 0 });
      await settle();
      expect(events.filter((e) => e.action === 'defer' && e.error === null)).toHaveLength(32);
    } finally {
      await policy.close();
    }
  });

  test('a short answer is zero-filled; \'zero\' maps zeros; \'sigbus\' is SIGBUS without an error', async () => {
    const policy = await load();
    const events = collect(policy);
    try {
      const r = policy.region('r').onDefer((f) => {
        const p = Number(f.offset / 4096n);
        return p === 1 ? Uint8Array.of(1, 2, 3) : p === 2 ? 'zero' : 'sigbus';
      });
      expect(await kernelRead(r.buffer, 1)).toBeNull();
      expect([...new Uint8Array(r.buffer, PAGE, 4)]).toEqual([1, 2, 3, 0]);
      expect(new Uint8Array(r.buffer, PAGE + 3, PAGE - 3).every((b) => b === 0)).toBe(true);
      expect(await kernelRead(r.buffer, 2)).toBeNull();
      expect(new Uint8Array(r.buffer, 2 * PAGE, PAGE).every((b) => b === 0)).toBe(true);
      expect(await kernelRead(r.buffer, 3)).toBe('EFAULT');
      await settle();
      expect(r.stats()).toMatchObject({ sigbus: 1, errors: 0, deferred: 2 });
      expect(events.find((e) => e.offset === 3n * 4096n)).toMatchObject({ action: 'sigbus', error: null });
    } finally {
      await policy.close();
    }
  });

  test('a handler that throws or answers more than a page: SIGBUS with deferFailed', async () => {
    const policy = await load();
    const events = collect(policy);
    try {
      const r = policy.region('r').onDefer((f) => {
        if (f.offset === 4n * 4096n) throw new Error('no such page');
        return new Uint8Array(PAGE + 1);
      });
      expect(await kernelRead(r.buffer, 4)).toBe('EFAULT');
      expect(await kernelRead(r.buffer, 5)).toBe('EFAULT');
      await settle();
      expect(r.stats()).toMatchObject({ sigbus: 2, errors: 2 });
      for (const p of [4n, 5n]) expect(events.find((e) => e.offset === p * 4096n)).toMatchObject({ action: 'sigbus', error: 'deferFailed' });
    } finally {
      await policy.close();
    }
  });

  test('an answer past the deadline: SIGBUS with deferTimeout, and the late answer is dropped', async () => {
    const policy = await load({ deferDeadlineMs: 150 });
    const events = collect(policy);
    let late: Promise<void> | undefined;
    try {
      const r = policy.region('r').onDefer(() => {
        late = new Promise((res) => setTimeout(res, 400));
        return late.then(() => pattern(6));
      });
      const t0 = Date.now();
      expect(await kernelRead(r.buffer, 6)).toBe('EFAULT');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
      await late;
      await settle();
      expect(await kernelRead(r.buffer, 6)).toBe('EFAULT'); // poisoned, never the late bytes
      expect(r.stats()).toMatchObject({ sigbus: 1, errors: 1 });
      expect(events.find((e) => e.offset === 6n * 4096n)).toMatchObject({ action: 'sigbus', error: 'deferTimeout' });
    } finally {
      await policy.close();
    }
  });

  test('close() while a fault waits for its handler: that fault fails at once (deferFailed)', async () => {
    const policy = await load({ deferDeadlineMs: 10_000 });
    const events = collect(policy);
    const r = policy.region('r').onDefer(() => new Promise<never>(() => {}));
    const reading = kernelRead(r.buffer, 8);
    await settle(100);
    const t0 = Date.now();
    await policy.close();
    expect(await reading).toBe('EFAULT');
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(events.find((e) => e.offset === 8n * 4096n)).toMatchObject({ action: 'sigbus', error: 'deferFailed' });
  });

  test('onDefer(null) goes back to zeros', async () => {
    const policy = await load();
    try {
      const r = policy.region('r').onDefer(() => pattern(0));
      expect(await kernelRead(r.buffer, 0)).toBeNull();
      r.onDefer(null);
      expect(await kernelRead(r.buffer, 7)).toBeNull();
      expect(Buffer.from(r.buffer, 0, PAGE).equals(pattern(0))).toBe(true);
      expect(new Uint8Array(r.buffer, 7 * PAGE, PAGE).every((b) => b === 0)).toBe(true);
    } finally {
      await policy.close();
    }
  });
});
