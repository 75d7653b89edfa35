// `faultc trace` as a user runs it (dist/runtime/cli.js, root): JSON event
// lines, the working-set record, the heatmap, --vma, a policy's regions and
// actions, and the plain failures (usage: exit 2, no privilege: exit 3).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hasBpfPrivilege } from '../../runtime/bpf/privilege.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'runtime', 'cli.js');
const privileged = process.getuid?.() === 0 && hasBpfPrivilege();
if (!privileged) console.log('trace-cli tests skipped: loading BPF programs needs root (CAP_BPF, CAP_PERFMON)');

const work = mkdtempSync(join(tmpdir(), 'faultc-trace-cli-'));
chmodSync(work, 0o755);
const toucher = join(work, 'toucher');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PAGE = 4096;

interface JsonEvent {
  time: number;
  address: string;
  offset: number;
  region: string;
  regionIndex: number;
  pid: number;
  tid: number;
  access: string;
  handler: string;
  action?: string;
  pages?: number;
}

function faultc(args: string[], input = '', asNobody = false): { status: number | null; stdout: string; stderr: string } {
  const cmd = asNobody
    ? ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', process.execPath, cli, ...args]
    : [process.execPath, cli, ...args];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { input, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Splits stdout into event lines and the toucher's own JSON line. */
function split(stdout: string): { events: JsonEvent[]; result: { base: number; order: number[]; tids: number[]; threadOf: number[] } } {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  const events = lines.filter((l) => l.startsWith('{"time"')).map((l) => JSON.parse(l) as JsonEvent);
  const result = JSON.parse(lines.find((l) => l.startsWith('{"base"'))!);
  return { events, result };
}

describe('faultc trace usage errors (no privilege needed)', () => {
  test('no command and no --pid', () => {
    const r = faultc(['trace']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('give --pid PID or a command after --');
  });
  test('--notify-only without --policy, and a bad range', () => {
    expect(faultc(['trace', '--notify-only', '--', 'true']).status).toBe(2);
    const r = faultc(['trace', '--range', '0x1000', '--', 'true']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('START:LEN');
  });
});

describe.skipIf(!privileged)('faultc trace on the running kernel', () => {
  beforeAll(() => {
    execFileSync('cc', ['-O2', '-pthread', '-o', toucher, join(root, 'test', 'trace-fixtures', 'toucher.c')]);
  });

  test('--json, --record and --heatmap for a range', () => {
    const ws = join(work, 'ws.json');
    const svg = join(work, 'heat.svg');
    const addr = 0x5c0000000000;
    const r = faultc(
      ['trace', '--json', '--record', ws, '--heatmap', svg, '--range', `0x${addr.toString(16)}:48pages`, '--', toucher, 'order', `0x${addr.toString(16)}`, '48', '3', '21'],
      'go\n',
    );
    expect(r.status).toBe(0);
    const { events, result } = split(r.stdout);
    expect(events).toHaveLength(48);
    for (const e of events) {
      expect(Object.keys(e)).toEqual(expect.arrayContaining(['time', 'address', 'offset', 'region', 'tid', 'access']));
      expect(BigInt(e.address)).toBe(BigInt(addr) + BigInt(e.offset));
      expect(e.access).toBe('write');
    }
    expect(events.map((e) => e.offset / PAGE)).toEqual(result.order);
    expect(events.map((e) => e.tid)).toEqual(result.threadOf.map((t) => result.tids[t]));
    expect(r.stderr).toContain('48 faults');
    expect(r.stderr).toContain('lost events: 0');

    const record = JSON.parse(readFileSync(ws, 'utf8'));
    expect(record.version).toBe(1);
    expect(record.regions).toHaveLength(1);
    expect(record.regions[0].pages).toEqual(result.order);
    expect(record.regions[0].faults).toBe(48);
    expect(record.lostEvents).toBe('0');

    const parsed = execFileSync(
      'python3',
      ['-c', "import sys, xml.etree.ElementTree as ET; r = ET.parse(sys.argv[1]).getroot(); print(r.get('width'), r.get('height'), sum(1 for e in r.iter() if e.get('class') == 'cell'))", svg],
      { encoding: 'utf8' },
    ).trim();
    const [w, h, cells] = parsed.split(' ').map(Number);
    expect(w).toBe(124 + 800 + 96);
    expect(h).toBe(56 + 240 + 46);
    expect(cells).toBeGreaterThan(0);
    expect(cells).toBeLessThanOrEqual(48);
  });

  test.each([
    ['[stack]', 'stack'],
    ['[heap]', 'heap'],
  ])('--vma %s: a mapping that grows after tracing began, in a child, placed page by page in the kernel', (vma, mode) => {
    const r = faultc(['trace', '--json', '--vma', vma, '--', 'sh', '-c', `${toucher} order ${mode} 40 2 4`], 'go\n');
    expect(r.status).toBe(0);
    const { events, result } = split(r.stdout);
    const mine = events.filter((e) => {
      const a = Number(BigInt(e.address) - BigInt(result.base));
      return a >= 0 && a < 40 * PAGE;
    });
    expect(mine).toHaveLength(40);
    const pages = mine.map((e) => Number(BigInt(e.address) - BigInt(result.base)) / PAGE);
    expect(pages).toEqual(result.order);
    expect(mine.every((e) => e.region === vma)).toBe(true);
    // Offsets are fixed per page: the heap counts up from its start, the stack down from its top.
    const sign = mode === 'stack' ? 1 : -1;
    expect(new Set(mine.map((e, i) => e.offset / PAGE + sign * pages[i]!)).size).toBe(1);
  });

  test('--vma [heap]: the other faults stay in the kernel (none crosses the ring buffer to be sorted out)', () => {
    // 256 heap pages and 256 pages of another mapping, first-touched in turn.
    const r = faultc(['trace', '--vma', '[heap]', '--', toucher, 'mixed', '256', '1']);
    expect(r.status).toBe(0);
    const total = /^faultc trace: (\d+) faults in [\d.]+ s \(\d+\/s\), (\d+) events$/m.exec(r.stderr)!;
    const heap = Number(/^ {2}\[heap\]: (\d+) faults$/m.exec(r.stderr)![1]);
    expect(heap).toBeGreaterThanOrEqual(256);
    expect(heap).toBeLessThan(256 + 64); // the C library's own heap pages, not the mapping's 256
    // Every event is a [heap] fault: nothing else was sent up to be placed or dropped.
    expect(Number(total[1])).toBe(heap);
    expect(Number(total[2])).toBe(heap);
    expect(r.stderr).not.toContain('outside the --vma filters');
  });

  test('a signal storm while the program loads (a CPU profiler at 10 kHz): the load waits for it, no EAGAIN', () => {
    // The verifier gives up with EAGAIN when a signal is pending; libbpf's few
    // retries all failed under `node --cpu-prof` before signals were held.
    const prof = join(work, 'prof');
    for (let i = 0; i < 3; i++) {
      const r = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-interval', '100', '--cpu-prof-dir', prof, cli, 'trace', '-q', '--', 'true'], { encoding: 'utf8' });
      expect(r.stderr).not.toContain('temporarily unavailable');
      expect(r.status).toBe(0);
    }
  });

  test("--policy: the policy's fixed region and what it would do with each fault", () => {
    // postcopy: region guest at 0x7e00_0000_0000; below 64 KiB sigbus, else copy + prefetch 31.
    const r = faultc(['trace', '--json', '--policy', join(root, 'examples', 'postcopy.pfp'), '--', toucher, 'order', '0x7e0000000000', '24', '1', '2'], 'go\n');
    expect(r.status).toBe(0);
    const { events, result } = split(r.stdout);
    expect(events).toHaveLength(24);
    expect(events.map((e) => e.offset / PAGE)).toEqual(result.order);
    for (const e of events) {
      expect(e.region).toBe('guest');
      if (e.offset < 64 * 1024) expect([e.action, e.pages]).toEqual(['sigbus', 1]);
      else expect([e.action, e.pages]).toEqual(['copy', 32]);
    }
  });

  test("a policy with `on write`: writes to present pages are reported as the write handler's", () => {
    const r = spawnSync(
      process.execPath,
      [cli, 'trace', '--json', '--policy', join(root, 'examples', 'tiered.pfp'), '--range', 'heap=0x5f8000000000', '--', toucher, 'order', '0x5f8000000000', '6', '1', '9'],
      { input: 'go\n', encoding: 'utf8', env: { ...process.env, TOUCHER_READ_FIRST: '1' } },
    );
    expect(r.status).toBe(0);
    const { events, result } = split(r.stdout);
    expect(events).toHaveLength(12);
    for (let i = 0; i < 6; i++) {
      const [miss, write] = [events[2 * i]!, events[2 * i + 1]!];
      expect(miss.offset / PAGE).toBe(result.order[i]);
      expect(write.offset).toBe(miss.offset);
      expect([miss.handler, miss.access]).toEqual(['missing', 'read']);
      expect(['copy', 'zero']).toContain(miss.action); // copy when the example's heap.img exists
      expect([write.handler, write.access, write.action]).toEqual(['write', 'write', undefined]);
    }
  });

  test('--notify-only with REGION=START placements, from a compiled manifest: only the faults the policy notifies', () => {
    const out = join(work, 'compiled');
    const c = faultc(['compile', join(root, 'examples', 'debug-guard.pfp'), '-o', out]);
    expect(c.status).toBe(0);
    const r = faultc(
      [
        'trace',
        '--json',
        '--policy',
        join(out, 'debug_guard.policy.json'),
        '--notify-only',
        '--range',
        'arena=0x5d0000000000',
        '--range',
        'guard=0x5e0000000000',
        '--',
        toucher,
        'order',
        '0x5d0000000000',
        '16',
        '1',
        '3',
        '0x5e0000000000',
        '1',
      ],
      'go\n',
    );
    expect(r.status).toBe(0);
    const { events } = split(r.stdout);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ region: 'guard', offset: 0, action: 'sigbus', address: '0x5e0000000000' });
    expect(r.stderr).toMatch(/arena: 16 faults/);
    expect(r.stderr).toMatch(/guard: 1 faults/);
  });

  test('impossible requests are usage errors (exit 2): no such process, a policy with nothing placed', () => {
    const gone = faultc(['trace', '--pid', '999999999']);
    expect(gone.status).toBe(2);
    expect(gone.stderr).toContain('no process 999999999');
    const unplaced = faultc(['trace', '--policy', join(root, 'examples', 'tiered.pfp'), '--', 'true']);
    expect(unplaced.status).toBe(2);
    expect(unplaced.stderr).toContain('place one with --range REGION=START');
    const unknown = faultc(['trace', '--policy', join(root, 'examples', 'tiered.pfp'), '--range', 'nosuch=0x600000000000', '--', 'true']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('has no region nosuch');
  });

  test('without privilege: a plain message and exit status 3', () => {
    const r = faultc(['trace', '--', '/bin/true'], '', true);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('needs root (CAP_BPF and CAP_PERFMON)');
  });
});
