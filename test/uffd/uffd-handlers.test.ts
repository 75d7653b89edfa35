// The uffd engine's per-CPU handlers (the default; docs/uffd-engine.md):
// one handler pinned to each CPU, each fault resolved by the handler of the
// CPU its thread blocked on (the others hand it over), handlers asleep when
// no fault comes, and neither handlers nor a CPU-bound neighbour starved.
// Correctness only: bytes, counters, thread states; never a speed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { UffdInstance } from '../../runtime/engines/uffd.js';
import { loadPolicy, type Policy } from '../../runtime/index.js';
import { repoRoot, skipReason, tempDir } from '../helpers/uffd.js';

const skip = skipReason('uffd-handlers');
const policyPath = join(repoRoot, 'bench', 'policies', 'copy.pfp');
const image = readFileSync(join(repoRoot, 'examples', 'heap.img'));
let cacheDir = '';
beforeAll(() => {
  cacheDir = tempDir('faultc-uffd-handlers-');
});
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

/** The CPUs this process may run on (Cpus_allowed_list of /proc/self/status). */
function allowedCpus(tid: number | 'self' = 'self'): number[] {
  const path = tid === 'self' ? '/proc/self/status' : `/proc/self/task/${tid}/status`;
  const line = readFileSync(path, 'utf8').match(/^Cpus_allowed_list:\s*(.*)$/m)?.[1] ?? '';
  return line.split(',').flatMap((part) => {
    const [a, b] = part.split('-').map(Number) as [number, number | undefined];
    return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i);
  });
}

interface TaskState {
  tid: number;
  state: string;
  policy: number;
}

/** The engine's handler threads (named faultc-uffd): state letter and scheduling policy. */
function handlerTasks(): TaskState[] {
  const out: TaskState[] = [];
  for (const t of readdirSync('/proc/self/task')) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
    } catch {
      continue; // the thread left
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    if (name !== 'faultc-uffd') continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the name: state is field 3, policy field 41 (index 0 and 38 here).
    out.push({ tid: Number(t), state: fields[0] ?? '?', policy: Number(fields[38]) });
  }
  return out;
}

function handlers(policy: Policy) {
  return (policy.engineInstance as UffdInstance).native.info();
}

/** The bytes of page p of the heap image (copy.pfp copies it page for page). */
function expectCopied(mem: Uint8Array, pages: number): number {
  let bad = 0;
  for (let p = 0; p < pages; p++) {
    if (Buffer.compare(Buffer.from(mem.buffer, mem.byteOffset + p * 4096, 4096), image.subarray(p * 4096, p * 4096 + 4096)) !== 0) bad++;
  }
  return bad;
}

const SCHED_BATCH = 3;
const oneCpu = availableParallelism() < 2 || allowedCpus().length < 2;
if (oneCpu) console.warn('uffd-handlers: hand-over case skipped: the process may use only one CPU');

describe.skipIf(skip)('uffd engine: per-CPU handlers', () => {
  test('by default one handler pinned to each CPU the process may use, as SCHED_BATCH; perCpuHandlers: false shares them', async () => {
    const cpus = allowedCpus();
    const policy = await loadPolicy(policyPath, { engine: 'uffd', cacheDir });
    try {
      const info = handlers(policy);
      expect(info.perCpu).toBe(true);
      expect(info.handlers.map((h) => h.cpu).sort((a, b) => a - b)).toEqual(cpus);
      const tasks = handlerTasks();
      expect(tasks).toHaveLength(cpus.length);
      const pinned = tasks.map((t) => allowedCpus(t.tid));
      expect(pinned.every((c) => c.length === 1)).toBe(true);
      expect(pinned.map((c) => c[0]).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(cpus);
      expect(tasks.every((t) => t.policy === SCHED_BATCH)).toBe(true);
    } finally {
      await policy.close();
    }
    const shared = await loadPolicy(policyPath, { engine: 'uffd', cacheDir, perCpuHandlers: false });
    try {
      const info = handlers(shared);
      expect(info.perCpu).toBe(false);
      expect(info.handlers.every((h) => h.cpu === -1)).toBe(true);
      expect(handlerTasks().every((t) => t.policy === 0)).toBe(true);
    } finally {
      await shared.close();
    }
  });

  test.skipIf(oneCpu)(
    'a fault is resolved by the handler of the CPU its thread blocked on: the others hand it over',
    async () => {
      const [cpu] = allowedCpus() as [number];
      const restore = allowedCpus().join(',');
      const policy = await loadPolicy(policyPath, { engine: 'uffd', cacheDir, perCpuHandlers: true });
      // The JavaScript thread (tid = pid in this forked worker) is pinned to one CPU, then faults.
      const pin = spawnSync('taskset', ['-pc', String(cpu), String(process.pid)], { encoding: 'utf8' });
      expect(pin.status, pin.stderr).toBe(0);
      try {
        const mem = new Uint8Array(policy.region('r').buffer);
        const pages = 2048;
        let sum = 0;
        for (let p = 0; p < pages; p++) sum += mem[p * 4096] as number;
        expect(sum).toBe(Array.from({ length: pages }, (_, p) => image[p * 4096] as number).reduce((a, b) => a + b, 0));
        expect(expectCopied(mem, pages)).toBe(0);
        const info = handlers(policy);
        const mine = info.handlers.find((h) => h.cpu === cpu);
        const others = info.handlers.filter((h) => h.cpu !== cpu);
        expect(mine?.resolved).toBe(pages);
        expect(others.reduce((a, h) => a + h.resolved, 0)).toBe(0);
        // Whatever another CPU's handler read, it handed over (nothing lost, nothing twice).
        expect(mine?.handed).toBe(0);
        expect(policy.region('r').stats().faults).toBe(pages);
      } finally {
        spawnSync('taskset', ['-pc', restore, String(process.pid)]);
        await policy.close();
      }
    },
  );

  test('handlers sleep when no fault comes (state S), after faults from two threads: per-CPU and shared', async () => {
    for (const perCpuHandlers of [true, false]) {
      const policy = await loadPolicy(policyPath, { engine: 'uffd', cacheDir, perCpuHandlers });
      try {
        const region = policy.region('r');
        const pages = 4096;
        await region.touch(Uint32Array.from({ length: pages }, (_, i) => i), { threads: 2 });
        expect(expectCopied(new Uint8Array(region.buffer), pages)).toBe(0);
        const info = handlers(policy);
        expect(info.perCpu).toBe(perCpuHandlers);
        expect(info.handlers.reduce((a, h) => a + h.resolved, 0)).toBe(pages);
        // The CPU-latency request lingers 5 ms after the last fault; then every
        // handler blocks until the next fault. A spinning handler stays R.
        let asleep = 0;
        for (let i = 0; i < 200 && asleep < 5; i++) {
          await new Promise((r) => setTimeout(r, 10));
          const tasks = handlerTasks();
          asleep = tasks.length > 0 && tasks.every((t) => t.state === 'S') ? asleep + 1 : 0;
        }
        expect(asleep, `perCpuHandlers: ${perCpuHandlers}`).toBe(5);
      } finally {
        await policy.close();
      }
    }
  });

  test('CPU-bound loops on every CPU: faults from two threads finish with the right bytes, and the loops keep running', async () => {
    const cpus = allowedCpus();
    const loops: ChildProcess[] = cpus.map((c) => spawn('taskset', ['-c', String(c), process.execPath, '-e', 'for(;;){}'], { stdio: 'ignore' }));
    const cpuTicks = (p: ChildProcess) => {
      const f = readFileSync(`/proc/${p.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      return Number(f[11]) + Number(f[12]); // utime + stime
    };
    try {
      await new Promise((r) => setTimeout(r, 200)); // the loops are running (taskset has exec'd node)
      const before = loops.map(cpuTicks);
      // Faults for at least half a second beside the loops.
      const end = Date.now() + 500;
      let rounds = 0;
      while (Date.now() < end || rounds === 0) {
        const policy = await loadPolicy(policyPath, { engine: 'uffd', cacheDir, perCpuHandlers: true });
        try {
          const region = policy.region('r');
          const pages = 1024;
          await region.touch(Uint32Array.from({ length: pages }, (_, i) => i), { threads: 2 });
          expect(expectCopied(new Uint8Array(region.buffer), pages)).toBe(0);
          expect(region.stats().errors).toBe(0);
        } finally {
          await policy.close();
        }
        rounds++;
      }
      const after = loops.map(cpuTicks);
      for (let i = 0; i < loops.length; i++) expect(after[i] as number).toBeGreaterThan(before[i] as number);
    } finally {
      for (const l of loops) l.kill('SIGKILL');
    }
  });
});
