// The trace engine against the running kernel (root): the real tracepoint
// program, the real verifier, real faults from real processes.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createInterface } from 'node:readline';
import { bpfNative, decodeEvents } from '../../runtime/bpf/native.js';
import { hasBpfPrivilege } from '../../runtime/bpf/privilege.js';
import { genericTraceObject } from '../../runtime/trace/program.js';
import { trace, type TraceEvent, type TraceOptions, type TraceSummary } from '../../runtime/trace/trace.js';

const privileged = process.getuid?.() === 0 && hasBpfPrivilege();
if (!privileged) console.log('trace-kernel tests skipped: loading BPF programs needs root (CAP_BPF, CAP_PERFMON)');

const fixture = join(import.meta.dirname, '..', 'trace-fixtures', 'toucher.c');
const work = mkdtempSync(join(tmpdir(), 'faultc-trace-kernel-'));
const toucher = join(work, 'toucher');
const staticToucher = join(work, 'toucher-static');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PAGE = 4096n;
// Fixed addresses far from anything the loader places.
const REGION = 0x5a0000000000n;
const OTHER = 0x5b0000000000n;

interface OrderResult {
  order: number[];
  tids: number[];
  threadOf: number[];
}

/** Traces one toucher run: it maps, waits for our line on stdin, touches, prints what it did. */
async function traceToucher(
  args: string[],
  opts: Omit<TraceOptions, 'command' | 'pid'>,
): Promise<{ events: TraceEvent[]; summary: TraceSummary; result: OrderResult; pid: number }> {
  const tracer = await trace({ ...opts, command: [toucher, ...args], stdio: 'pipe' });
  const events: TraceEvent[] = [];
  tracer.on('batch', (b) => events.push(...b));
  let out = '';
  tracer.child!.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  tracer.child!.stdin!.end('go\n');
  const exit = await tracer.exited!;
  const summary = await tracer.stop();
  expect(exit.code).toBe(0);
  return { events, summary, result: JSON.parse(out) as OrderResult, pid: tracer.pid };
}

describe.skipIf(!privileged)('trace engine on the running kernel', () => {
  beforeAll(() => {
    execFileSync('cc', ['-O2', '-pthread', '-o', toucher, fixture]);
    execFileSync('cc', ['-O2', '-static', '-no-pie', '-pthread', '-o', staticToucher, fixture]);
  });

  test('N pages touched in a known order by known threads give exactly N events, in order, with the right tids', async () => {
    const n = 96;
    const { events, summary, result, pid } = await traceToucher(
      ['order', '0x' + REGION.toString(16), String(n), '4', '1234', '0x' + OTHER.toString(16), '16'],
      { ranges: [{ start: REGION, length: BigInt(n) * PAGE, name: 'region' }] },
    );
    expect(events).toHaveLength(n);
    expect(events.map((e) => Number(e.offset / PAGE))).toEqual(result.order);
    expect(events.map((e) => e.tid)).toEqual(result.threadOf.map((t) => result.tids[t]));
    for (const e of events) {
      expect(e.pid).toBe(pid);
      expect(e.region).toBe(0);
      expect(e.regionName).toBe('region');
      expect(e.address).toBe(REGION + e.offset);
      expect(e.access).toBe('write');
      expect(e.handler).toBe('missing');
    }
    // Times are monotonic in ring order: one ring, threads one after another.
    for (let i = 1; i < events.length; i++) expect(events[i]!.time).toBeGreaterThanOrEqual(events[i - 1]!.time);
    expect(summary.counts).toEqual([BigInt(n)]);
    expect(summary.lost).toBe(0n);
  });

  test('the filter leaves out other regions of the process and other processes', async () => {
    // An untraced process touching the same addresses at the same time.
    const bystander = spawn(toucher, ['order', '0x' + REGION.toString(16), '64', '1', '7'], { stdio: ['pipe', 'ignore', 'inherit'] });
    const bystanderExit = new Promise((r) => bystander.on('exit', r));
    bystander.stdin.end('go\n');
    const { events, result, pid } = await traceToucher(
      ['order', '0x' + REGION.toString(16), '32', '2', '99', '0x' + OTHER.toString(16), '64'],
      { ranges: [{ start: REGION, length: 32n * PAGE }] },
    );
    await bystanderExit;
    expect(events).toHaveLength(32);
    expect(new Set(events.map((e) => e.pid))).toEqual(new Set([pid]));
    expect(events.every((e) => e.address >= REGION && e.address < REGION + 32n * PAGE)).toBe(true);
    expect(events.map((e) => Number(e.offset / PAGE))).toEqual(result.order);
  });

  test('two ranges are two regions; pages outside both are not reported', async () => {
    const { events, summary } = await traceToucher(
      ['order', '0x' + REGION.toString(16), '20', '1', '5', '0x' + OTHER.toString(16), '12'],
      {
        ranges: [
          // Not page-aligned: the range covers the pages it touches, offsets from the first.
          { start: REGION + 4n * PAGE + 100n, length: 8n * PAGE - 200n, name: 'middle' },
          { start: OTHER, length: 12n * PAGE, name: 'other' },
        ],
      },
    );
    const middle = events.filter((e) => e.region === 0);
    const other = events.filter((e) => e.region === 1);
    expect(middle).toHaveLength(8);
    expect(other).toHaveLength(12);
    expect(middle.map((e) => Number(e.offset / PAGE)).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(other.map((e) => Number(e.offset / PAGE))).toEqual([...Array(12).keys()]);
    expect(summary.counts).toEqual([8n, 12n]);
  });

  test("children are followed, and tracing is in place before the command's first instruction", async () => {
    // A static non-PIE binary: its text is at a known address, so the page
    // holding the entry point must be the first instruction fetch we see.
    const entry = BigInt(execFileSync('sh', ['-c', `readelf -h ${staticToucher} | awk '/Entry/ {print $4}'`], { encoding: 'utf8' }).trim());
    const text = { start: 0x400000n, length: 0x100000n, name: 'text' };
    const tracer = await trace({ command: ['sh', '-c', `${staticToucher} bench 4 1 >/dev/null; ${staticToucher} bench 4 1 >/dev/null`], ranges: [text], stdio: 'pipe' });
    const events: TraceEvent[] = [];
    tracer.on('batch', (b) => events.push(...b));
    await tracer.exited;
    await tracer.stop();
    const pids = [...new Set(events.map((e) => e.pid))];
    expect(pids.length).toBe(2); // two children of the traced shell
    expect(pids).not.toContain(tracer.pid);
    for (const pid of pids) {
      const first = events.find((e) => e.pid === pid && e.access === 'read');
      expect(first?.address).toBe(entry & ~(PAGE - 1n));
    }
  });

  test('a process already running is traced by --pid', async () => {
    const child = spawn(toucher, ['order', '0x' + REGION.toString(16), '40', '2', '3'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise((r) => child.on('exit', r));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => setTimeout(r, 100)); // it has mapped and waits for us
    const tracer = await trace({ pid: child.pid!, ranges: [{ start: REGION, length: 40n * PAGE }] });
    const events: TraceEvent[] = [];
    tracer.on('batch', (b) => events.push(...b));
    child.stdin.end('go\n');
    await exited;
    const summary = await tracer.stop();
    const result = JSON.parse(out) as OrderResult;
    expect(events.map((e) => Number(e.offset / PAGE))).toEqual(result.order);
    expect(summary.counts).toEqual([40n]);
  });

  test('faults the kernel takes on user memory (read(2) into fresh pages) are reported, unless left out', async () => {
    const kread = async (kernelFaults: boolean) => {
      const tracer = await trace({
        command: [toucher, 'kread', '0x' + REGION.toString(16), '24'],
        stdio: 'pipe',
        kernelFaults,
        ranges: [{ start: REGION, length: 24n * PAGE }],
      });
      const events: TraceEvent[] = [];
      tracer.on('batch', (b) => events.push(...b));
      tracer.child!.stdin!.end('go\n');
      await tracer.exited;
      const summary = await tracer.stop();
      return { events, summary };
    };
    const withKernel = await kread(true);
    expect(withKernel.events.map((e) => Number(e.offset / PAGE))).toEqual([...Array(24).keys()]);
    expect(withKernel.events.every((e) => e.access === 'write')).toBe(true);
    const without = await kread(false);
    expect(without.events).toHaveLength(0);
    expect(without.summary.counts).toEqual([0n]);
  });

  test('--vma with a file path: placed in the kernel at file offsets, even for a process that exits at once', async () => {
    const file = join(work, 'data.bin');
    execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=4096', 'count=64'], { stdio: 'ignore' });
    const order = [5, 1, 63, 0, 17, 40, 2];
    // Private writes: one fault per page (no fault-around, as reads of a file would have).
    const code = `import mmap\nf = open(${JSON.stringify(file)}, 'r+b')\nm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)\nfor p in ${JSON.stringify(order)}: m[p * 4096] = 1\n`;
    const tracer = await trace({ command: ['python3', '-c', code], stdio: 'pipe', vmas: [file] });
    const events: TraceEvent[] = [];
    tracer.on('batch', (b) => events.push(...b));
    await tracer.exited;
    const summary = await tracer.stop();
    expect(events.map((e) => Number(e.offset / PAGE))).toEqual(order);
    expect(events.every((e) => e.regionName === file && e.access === 'write')).toBe(true);
    expect(summary.counts).toEqual([BigInt(order.length)]);
    expect(summary.unmatched).toBeGreaterThan(0); // the interpreter's other faults
  });

  test('--vma with a file made after tracing began: placed in user space by /proc/PID/maps', async () => {
    const file = join(work, 'later.bin');
    rmSync(file, { force: true });
    const order = [3, 0, 9, 4];
    // The file does not exist when tracing starts, so the kernel cannot know it:
    // the process waits for a line before exiting, as placement needs its maps.
    const code = `import mmap, sys\nf = open(${JSON.stringify(file)}, 'w+b')\nf.truncate(16 * 4096)\nm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)\nfor p in ${JSON.stringify(order)}: m[p * 4096] = 1\nsys.stdin.readline()\n`;
    const tracer = await trace({ command: ['python3', '-c', code], stdio: 'pipe', vmas: [file] });
    const events: TraceEvent[] = [];
    const allSeen = new Promise<void>((resolve) => {
      tracer.on('batch', (b) => {
        events.push(...b);
        if (events.length >= order.length) resolve();
      });
    });
    await allSeen;
    tracer.child!.stdin!.end('\n');
    await tracer.exited;
    const summary = await tracer.stop();
    expect(events.map((e) => Number(e.offset / PAGE))).toEqual(order);
    expect(summary.counts).toEqual([BigInt(order.length)]);
  });

  test('a session detaches and re-attaches: no events while detached (the bench baseline)', async () => {
    const { TraceSession } = bpfNative();
    const session = new TraceSession(await genericTraceObject(), 1 << 20, { mode: 0, flags: 0, wakeupBytes: 0 });
    const child = spawn(toucher, ['steps', '32', '3'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    let events = 0;
    try {
      session.setRanges([{ start: 0n, end: 1n << 56n, base: 0n, region: 0 }]);
      session.addTarget(child.pid!);
      session.start((buf) => (events += decodeEvents(buf).length), 10);
      const counts: bigint[] = [];
      for (const attach of [true, false, true]) {
        if (attach) session.attach();
        else session.detach();
        child.stdin.write('\n');
        await lines.next();
        counts.push(session.counts(1)[0]!);
      }
      // 32 pages per attached round (plus the process's own few faults), none while detached.
      expect(counts[0]).toBeGreaterThanOrEqual(32n);
      expect(counts[1]).toBe(counts[0]);
      expect(counts[2]! - counts[1]!).toBeGreaterThanOrEqual(32n);
      await session.stop();
      expect(BigInt(events)).toBe(counts[2]);
    } finally {
      session.close();
      child.kill('SIGKILL');
    }
  });

  test('a real program nobody here wrote (python3) gives a plausible count', async () => {
    const run = async (code: string): Promise<bigint> => {
      const tracer = await trace({ command: ['python3', '-c', code], stdio: 'pipe' });
      let events = 0;
      tracer.on('batch', (b) => (events += b.length));
      await tracer.exited;
      const s = await tracer.stop();
      expect(s.lost).toBe(0n);
      expect(BigInt(events)).toBe(s.counts[0]);
      return s.counts[0]!;
    };
    // The same interpreter run with and without touching 32 MiB of fresh anonymous memory.
    const pages = 8192;
    const setup = 'import mmap\nm = mmap.mmap(-1, 32 << 20)\n';
    const base = await run(setup);
    const touched = await run(setup + 'for i in range(0, len(m), 4096): m[i] = 1\n');
    expect(base).toBeGreaterThan(100n); // an interpreter starting up faults
    const extra = Number(touched - base);
    expect(extra).toBeGreaterThanOrEqual(pages * 0.95);
    expect(extra).toBeLessThanOrEqual(pages * 1.25);
  });

  test('sqlite3 filling an in-memory database faults at least once per page of data it holds', async () => {
    const run = async (sql: string): Promise<bigint> => {
      const tracer = await trace({ command: ['sqlite3', ':memory:', sql], stdio: 'pipe' });
      await tracer.exited;
      const s = await tracer.stop();
      expect(s.lost).toBe(0n);
      return s.counts[0]!;
    };
    const rows = 2000;
    const dataPages = (rows * 8000) / 4096; // 8000-byte blobs
    const base = await run('select 1;');
    const filled = await run(
      `create table t(x blob); with recursive c(i) as (select 1 union all select i + 1 from c where i < ${rows}) insert into t select randomblob(8000) from c;`,
    );
    const extra = Number(filled - base);
    expect(extra).toBeGreaterThanOrEqual(dataPages * 0.9);
    expect(extra).toBeLessThanOrEqual(dataPages * 2.5);
  });

  test('a full ring buffer loses events, and every lost one is counted', async () => {
    const n = 3000;
    const { events, summary } = await traceToucher(['order', '0x' + REGION.toString(16), String(n), '1', '8'], {
      ranges: [{ start: REGION, length: BigInt(n) * PAGE }],
      ringBytes: 4096,
      wakeupBytes: 1 << 30, // never woken: the buffer fills before the reader looks
      pollMs: 1000,
    });
    expect(summary.lost).toBeGreaterThan(0n);
    // The ring holds 73 events; on a loaded machine the toucher can outlast a
    // 1 s poll or two, so the reader may empty it more than once.
    expect(events.length).toBeLessThan(n / 4);
    expect(BigInt(events.length) + summary.lost).toBe(BigInt(n));
    expect(summary.counts).toEqual([BigInt(n)]);
  });
});
