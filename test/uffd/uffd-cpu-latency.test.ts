// The uffd engine's CPU wake-up latency request: held (0 µs) while faults
// stream, dropped after them, never made when turned off. The engine's own
// state (info().cpuLatency) is what is checked: /dev/cpu_dma_latency reports
// the bound across every request on the machine, and other tests (or other
// programs) running beside this one make their own. While ours is held, the
// device must read 0 µs whatever the others do.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readlinkSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { UffdInstance } from '../../runtime/engines/uffd.js';
import { loadPolicy } from '../../runtime/index.js';
import { repoRoot, skipReason, tempDir } from '../helpers/uffd.js';

const DEVICE = '/dev/cpu_dma_latency';

function latencyBound(): number {
  const fd = openSync(DEVICE, 'r');
  try {
    const b = Buffer.alloc(4);
    readSync(fd, b, 0, 4, null);
    return b.readInt32LE(0);
  } finally {
    closeSync(fd);
  }
}

function why(): string | null {
  if (skipReason('uffd-cpu-latency')) return 'needs root';
  if (!existsSync(DEVICE)) return `${DEVICE} does not exist (kernel without CONFIG_CPU_IDLE PM QoS)`;
  return null;
}
const reason = why();
if (reason) console.warn(`uffd-cpu-latency: skipped: ${reason}`);

let cacheDir = '';
beforeAll(() => {
  execFileSync('node', [join(repoRoot, 'scripts', 'make-example-data.mjs')]);
  cacheDir = tempDir('faultc-uffd-qos-');
});
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

type State = UffdInstance['native'] extends { info(): { cpuLatency: infer S } } ? S : never;

/**
 * The engine's request state every millisecond while 16384 pages are first
 * touched, with the device's bound read at the same moments.
 */
async function boundsDuringFaults(cpuLatencyRequest?: boolean): Promise<{ during: State[]; bounds: number[]; after: State }> {
  const policy = await loadPolicy(join(repoRoot, 'bench', 'policies', 'copy.pfp'), {
    engine: 'uffd',
    cacheDir,
    ...(cpuLatencyRequest === undefined ? {} : { cpuLatencyRequest }),
  });
  const during: State[] = [];
  const bounds: number[] = [];
  let after: State = 'off';
  try {
    const state = (): State => (policy.engineInstance as UffdInstance).native.info().cpuLatency;
    const r = policy.region('r');
    let done = false;
    const touching = r.touch(Uint32Array.from({ length: 16384 }, (_, i) => i), { threads: 1 }).finally(() => {
      done = true;
    });
    while (!done) {
      // Held before and after the read: held while the device was read.
      const first = state();
      bounds.push(latencyBound());
      during.push(first === 'held' && state() !== 'held' ? 'idle' : first);
      await new Promise((res) => setTimeout(res, 1));
    }
    await touching;
    expect(r.stats().faults).toBe(16384);
    // The request lingers 5 ms after the last fault.
    await new Promise((res) => setTimeout(res, 100));
    after = state();
  } finally {
    await policy.close();
  }
  return { during, bounds, after };
}

/** This process's open descriptors of the device: each is a request. */
function deviceFds(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === DEVICE;
    } catch {
      return false;
    }
  }).length;
}

describe.skipIf(reason !== null)('uffd engine: CPU latency request', () => {
  test('held at 0 µs while faults stream, dropped when they stop, gone with the engine', async () => {
    const before = deviceFds();
    const { during, bounds, after } = await boundsDuringFaults();
    expect(during.length).toBeGreaterThan(2);
    expect(during.filter((v) => v === 'held').length).toBeGreaterThan(0);
    // Ours is 0 µs, so while it is held no other request can raise the bound.
    expect(bounds.filter((b, i) => during[i] === 'held' && b !== 0)).toEqual([]);
    expect(after).toBe('idle');
    expect(deviceFds()).toBe(before);
  });

  test('never made with cpuLatencyRequest: false', async () => {
    const before = deviceFds();
    const { during, after } = await boundsDuringFaults(false);
    expect(during.length).toBeGreaterThan(2);
    expect(new Set(during)).toEqual(new Set(['off']));
    expect(after).toBe('off');
    expect(deviceFds()).toBe(before);
  });
});
