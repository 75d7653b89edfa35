// The uffd engine's CPU wake-up latency request: held (0 µs) while faults
// stream, dropped after them, never made when turned off. Read back from
// /dev/cpu_dma_latency, which reports the bound in force across all requests.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadPolicy } from '../../runtime/index.js';
import { repoRoot, skipReason, tempDir } from '../helpers/uffd.js';

const DEVICE = '/dev/cpu_dma_latency';
/** PM_QOS_CPU_LATENCY_DEFAULT_VALUE: no request in force. */
const NO_BOUND = 2_000_000_000;

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
  if (latencyBound() !== NO_BOUND) return `another process holds a CPU latency request (${latencyBound()} µs)`;
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

/** The bounds seen every millisecond while 16384 pages are first touched. */
async function boundsDuringFaults(cpuLatencyRequest?: boolean): Promise<{ during: number[]; after: number; closed: number }> {
  const policy = await loadPolicy(join(repoRoot, 'bench', 'policies', 'copy.pfp'), {
    engine: 'uffd',
    cacheDir,
    ...(cpuLatencyRequest === undefined ? {} : { cpuLatencyRequest }),
  });
  const during: number[] = [];
  let after = -1;
  try {
    const r = policy.region('r');
    let done = false;
    const touching = r.touch(Uint32Array.from({ length: 16384 }, (_, i) => i), { threads: 1 }).finally(() => {
      done = true;
    });
    while (!done) {
      during.push(latencyBound());
      await new Promise((res) => setTimeout(res, 1));
    }
    await touching;
    expect(r.stats().faults).toBe(16384);
    // The request lingers 5 ms after the last fault.
    await new Promise((res) => setTimeout(res, 100));
    after = latencyBound();
  } finally {
    await policy.close();
  }
  return { during, after, closed: latencyBound() };
}

describe.skipIf(reason !== null)('uffd engine: CPU latency request', () => {
  test('held at 0 µs while faults stream, dropped when they stop', async () => {
    const { during, after, closed } = await boundsDuringFaults();
    expect(during.length).toBeGreaterThan(2);
    expect(during.filter((v) => v === 0).length).toBeGreaterThan(0);
    expect(after).toBe(NO_BOUND);
    expect(closed).toBe(NO_BOUND);
  });

  test('never made with cpuLatencyRequest: false', async () => {
    const { during, after } = await boundsDuringFaults(false);
    expect(during.length).toBeGreaterThan(2);
    expect(during.every((v) => v === NO_BOUND)).toBe(true);
    expect(after).toBe(NO_BOUND);
  });
});
