// faultc lazy-pages with the real CRIU (built by scripts/criu.sh, cached):
// real programs dumped and restored through faultc's daemon, each checked
// against the same program run without a restore, and the failure cases.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readTasks } from '../../runtime/criu/images.js';
import { lazyAreas } from '../../runtime/criu/lazy-pages.js';
import { readWorkingSet, type CriuWorkingSet as WorkingSetFile } from '../../runtime/criu/working-set.js';
import { buildFixture, criuOrSkip, daemonEnd, dump, readJson, restore, restoreOk, startDaemon, startProgram, waitFor, type Daemon, type Started } from '../helpers/criu.js';

const setup = criuOrSkip();
if (setup.skip) console.log(`criu-lazy-pages: skipped: ${setup.skip}`);
const criu = setup.criu ?? '';

interface Result {
  pid: number;
  pages: number;
  bad: number;
  wsBad: number;
  zeroBad: number;
  sum: string;
}

interface Report {
  tasks: {
    pid: number;
    parentPid: number;
    totalPages: number;
    demandFaults: number;
    pagesDemand: number;
    pagesPrefetch: number;
    pagesBackground: number;
    pagesEarly: number;
    pagesDropped: number;
    errors: number;
    doneMs: number | null;
    gone: boolean;
  }[];
  errors: { pid: number; address: string; code: string; message: string }[];
  restoredMs: number | null;
  failure?: { code: string; message: string };
}

let work = '';
let heapProg = '';
let serial = 0;
const MIB = 64;

/** Each describe's own work directory (under the system's temporary one) and pattern program, removed after it. */
function workDir(prefix: string, then?: () => Promise<void>): void {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), prefix));
    heapProg = buildFixture('pattern-heap', work);
    await then?.();
  }, 300_000);
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });
}

/** A fresh run directory and images directory. */
function dirs(name: string): { run: string; img: string } {
  const base = join(work, `${name}-${serial++}`);
  const run = join(base, 'run');
  const img = join(base, 'img');
  mkdirSync(run, { recursive: true });
  mkdirSync(img, { recursive: true });
  return { run, img };
}

/** The pattern program run to the end without a dump: the reference result. */
async function plainRun(mode: string, name = 'result'): Promise<Result> {
  const d = dirs(`plain-${mode}`);
  writeFileSync(join(d.run, 'go'), '');
  await startProgram([heapProg, String(MIB), d.run, '1', mode], d.run);
  return waitFor('the plain run', () => readJson<Result>(join(d.run, name)));
}

/** A program started and dumped; its run directory has no go yet. */
interface Dumped {
  run: string;
  img: string;
  p: Started;
}

/** The pattern program, started and dumped. */
async function dumped(mode: string): Promise<Dumped> {
  const d = dirs(mode);
  const p = await startProgram([heapProg, String(MIB), d.run, '1', mode], d.run);
  await dump(criu, p, d.img);
  return { ...d, p };
}

function report(stdout: string): Report {
  return JSON.parse(stdout.trim().split('\n').pop()!) as Report;
}

type DaemonOut = Awaited<Daemon['done']>;

/**
 * One lazy restore of d's images through faultc: the daemon started with
 * args, the program told to go (unless go is false), `criu restore
 * --lazy-pages`, then `during` while the restored program runs, then the
 * daemon's end, whose exit status must be `code` (0 unless said).
 */
async function lazyRestore(
  d: Dumped,
  args: string[] = [],
  o: { during?: (daemon: Daemon) => Promise<void>; code?: number; go?: boolean } = {},
): Promise<{ out: DaemonOut; rep: Report }> {
  const daemon = await startDaemon(d.img, args);
  if (o.go !== false) writeFileSync(join(d.run, 'go'), '');
  await restoreOk(criu, d.img);
  await o.during?.(daemon);
  const out = await daemonEnd(daemon, { img: d.img, pid: d.p.pid });
  expect(out.code, out.stderr).toBe(o.code ?? 0);
  return { out, rep: report(out.stdout) };
}

/** The restored program's result file (`result` unless named), once written. */
function resultOf<T = Result>(d: { run: string }, name = 'result'): Promise<T> {
  return waitFor(`the ${name}`, () => readJson<T>(join(d.run, name)));
}

/** The address in the program's sigbus file, once written. */
function sigbusAt(d: { run: string }): Promise<string> {
  const f = join(d.run, 'sigbus');
  return waitFor('SIGBUS', () => (existsSync(f) ? readFileSync(f, 'utf8').trim() : undefined));
}

/**
 * The same images restored again: the last restore's pid must be free
 * (reaped, not only exited) and its result gone first. The program is told
 * to go at once (its go file is still there).
 */
async function restoreAgain(d: Dumped, args: string[]): Promise<{ out: DaemonOut; rep: Report; res: Result }> {
  await waitFor('the restored process to be reaped', () => (existsSync(`/proc/${d.p.pid}`) ? undefined : true));
  await new Promise((r) => setTimeout(r, 1000));
  rmSync(join(d.run, 'result'));
  const { out, rep } = await lazyRestore(d, args, { go: false });
  return { out, rep, res: await resultOf(d) };
}

function accounted(t: Report['tasks'][number]): number {
  return t.pagesDemand + t.pagesPrefetch + t.pagesBackground + t.pagesDropped;
}

describe.skipIf(setup.skip !== undefined)('faultc lazy-pages restores real processes dumped by CRIU', () => {
  const plain = new Map<string, Result>();

  workDir('faultc-criu-', async () => {
    plain.set('plain', await plainRun('plain'));
    plain.set('remap', await plainRun('remap'));
  });

  test('a 64 MiB pattern heap: every page as in the run without a restore, every page accounted for', async () => {
    const d = await dumped('plain');
    const { rep } = await lazyRestore(d);
    expect(await resultOf(d)).toMatchObject({ pid: d.p.pid, bad: 0, wsBad: 0, sum: plain.get('plain')!.sum });
    expect(rep.errors).toEqual([]);
    expect(rep.tasks).toHaveLength(1);
    const t = rep.tasks[0]!;
    expect(t.pid).toBe(d.p.pid);
    expect(t.totalPages).toBeGreaterThanOrEqual(MIB * 256);
    expect(accounted(t)).toBe(t.totalPages);
    // The program unmaps nothing: a dropped page would be one lost to a copy
    // made before the restorer had registered its area (the background copy
    // starts then, before the restore has finished: pagesEarly of its pages).
    expect(t.pagesDropped).toBe(0);
    expect(t.pagesBackground).toBeGreaterThan(0);
    expect(t.pagesEarly).toBeLessThanOrEqual(t.pagesBackground);
    expect(rep.restoredMs).toBeGreaterThan(0);
    expect(t.doneMs).not.toBeNull();
  }, 120_000);

  test('a process that forks after the restore: parent and child each read every page right', async () => {
    const ref = await plainRun('plain');
    const d = await dumped('fork');
    const { rep } = await lazyRestore(d, ['--no-background']);
    const parent = await resultOf(d);
    const child = await resultOf(d, 'result-child');
    expect(parent).toMatchObject({ bad: 0, sum: ref.sum });
    expect(child).toMatchObject({ bad: 0, sum: ref.sum });
    expect(child.pid).not.toBe(parent.pid);
    expect(rep.tasks).toHaveLength(2);
    // The fork event carries no pid: the daemon finds the child among its parent's children.
    expect(rep.tasks[1]).toMatchObject({ pid: child.pid, parentPid: d.p.pid, errors: 0 });
    expect(rep.tasks[1]!.demandFaults).toBeGreaterThan(0);
  }, 120_000);

  test('unmap, mremap and MADV_DONTNEED of lazy areas after the restore', async () => {
    const d = await dumped('remap');
    const { rep } = await lazyRestore(d, ['--no-background']);
    expect(await resultOf(d)).toMatchObject({ bad: 0, zeroBad: 0, sum: plain.get('remap')!.sum });
    const t = rep.tasks[0]!;
    expect(t.pagesDropped).toBeGreaterThan(0);
    expect(t.errors).toBe(0);
  }, 120_000);

  test('python3 holding ~200 MB answers its query after the restore as before the dump', async () => {
    const dir = dirs('python');
    const p = await startProgram(['python3', join(import.meta.dirname, '..', 'fixtures', 'criu', 'query.py'), dir.run], dir.run);
    const before = readJson<{ answer: string }>(join(dir.run, 'ready'))!.answer;
    await dump(criu, p, dir.img);
    const d = { ...dir, p };
    const { rep } = await lazyRestore(d);
    expect((await resultOf<{ answer: string }>(d)).answer).toBe(before);
    const t = rep.tasks[0]!;
    expect(t.totalPages).toBeGreaterThan(45_000);
    expect(accounted(t)).toBe(t.totalPages);
  }, 180_000);

  test('--record writes the first-touch order; --replay installs it first and the bytes stay right', async () => {
    const d = await dumped('plain');
    const ws = join(d.img, '..', 'ws.json');
    await lazyRestore(d, ['--record', ws]);
    expect(await resultOf(d)).toMatchObject({ bad: 0 });
    const set = readJson<WorkingSetFile>(ws)!;
    expect(set).toMatchObject({ version: 2, kind: 'criu-working-set', pageSize: 4096 });
    const pages = readWorkingSet(ws).get(d.p.pid)!;
    expect(new Set(pages).size).toBe(pages.length);
    expect(set.tasks[0]!.pages).toBe(pages.length);
    // The program reads a tenth of its pages at random, then all of them:
    // the sweep's pages between the random ones join in runs.
    expect(pages.length).toBeGreaterThanOrEqual(MIB * 256);
    expect(set.tasks[0]!.runs.length).toBeLessThan(pages.length / 2);
    // Replay into the same images: the recorded pages go first.
    const again = await restoreAgain(d, ['--replay', ws]);
    expect(again.res).toMatchObject({ bad: 0, sum: plain.get('plain')!.sum });
    const t = again.rep.tasks[0]!;
    expect(accounted(t)).toBe(t.totalPages);
    // The recording ends with the sweep, so the pages the program never
    // touched come last: on a busy machine the program may have exited (and
    // those pages are dropped) before the daemon gets to them. Its heap,
    // every page of which it read, is never dropped.
    expect(t.pagesDropped).toBeLessThanOrEqual(t.totalPages - MIB * 256);
  }, 180_000);

  test('--record until SIGUSR2: the working set only, the rest served as usual; its replay reads right', async () => {
    const d = await dumped('plain');
    const ws = join(d.img, '..', 'ws-cut.json');
    const { rep } = await lazyRestore(d, ['--record', ws], {
      // The program has read its working set (a tenth of its pages, random): that is what to record.
      during: async (rec) => {
        await waitFor('the working set read', () => (existsSync(join(d.run, 'ws-done')) ? true : undefined), 60_000);
        rec.proc.kill('SIGUSR2');
      },
    });
    expect(await resultOf(d)).toMatchObject({ bad: 0, sum: plain.get('plain')!.sum });
    const t = rep.tasks[0]!;
    // After the signal the daemon prefetched and copied in the background, and ended with every page in place.
    expect(t.pagesBackground).toBeGreaterThan(0);
    expect(t.doneMs).not.toBeNull();
    expect(accounted(t)).toBe(t.totalPages);
    const pages = readWorkingSet(ws).get(d.p.pid)!;
    // A tenth of the heap drawn with repeats, the pages the program ran on, and what the sweep touched before the signal landed.
    expect(pages.length).toBeGreaterThan(MIB * 256 * 0.09);
    expect(pages.length).toBeLessThan(MIB * 256 * 0.5);
    const again = await restoreAgain(d, ['--replay', ws]);
    expect(again.res).toMatchObject({ bad: 0, sum: plain.get('plain')!.sum });
    expect(accounted(again.rep.tasks[0]!)).toBe(t.totalPages);
  }, 180_000);

  test('--record-for 1: a window of 1 ms after the first touch, then served as usual', async () => {
    const d = await dumped('plain');
    const ws = join(d.img, '..', 'ws-window.json');
    const { rep } = await lazyRestore(d, ['--record', ws, '--record-for', '1']);
    expect(await resultOf(d)).toMatchObject({ bad: 0, sum: plain.get('plain')!.sum });
    const t = rep.tasks[0]!;
    expect(t.pagesBackground).toBeGreaterThan(0);
    expect(accounted(t)).toBe(t.totalPages);
    // Only touches served within the window count: a fault is at least a round trip through the daemon.
    const pages = readWorkingSet(ws).get(d.p.pid)!;
    expect(pages.length).toBeGreaterThan(0);
    expect(pages.length).toBeLessThan(1000);
  }, 120_000);
});

/**
 * Restored with every lazy page but the heap's in place (a working set of
 * them replayed with --no-background), the program not told to go yet:
 * everything it needs besides its heap is there before a test takes the
 * heap's pages away.
 */
async function restoredWithoutHeap(d: Dumped) {
  const task = readTasks(d.img)[0]!;
  const heap = Number.parseInt(readJson<{ heap: string }>(join(d.run, 'ready'))!.heap, 16);
  const heapEnd = heap + MIB * 1048576;
  const areas = lazyAreas(task);
  const others = areas.flatMap((a) =>
    Array.from({ length: a.nrPages }, (_, i) => a.start + i * 4096).filter((p) => p < heap || p >= heapEnd),
  );
  const heapArea = areas.find((a) => a.start <= heap && heap < a.start + a.nrPages * 4096)!;
  const ws = join(d.img, '..', 'others.json');
  writeFileSync(ws, JSON.stringify({ version: 1, kind: 'criu-working-set', pageSize: 4096, tasks: [{ pid: d.p.pid, pages: others.map((p) => '0x' + p.toString(16)) }] }));
  const daemon = await startDaemon(d.img, ['--no-background', '--replay', ws]);
  await restoreOk(criu, d.img);
  await new Promise((r) => setTimeout(r, 500));
  return { daemon, heap, heapEnd, cutHeap: () => truncateSync(task.pagesPath, heapArea.fileOffset + (heap - heapArea.start)) };
}

/** Restored without its heap, then the pages image cut where the heap starts, then told to go: its first heap read cannot be served. */
async function restoredWithHeapUnreadable(d: Dumped) {
  const r = await restoredWithoutHeap(d);
  r.cutHeap();
  writeFileSync(join(d.run, 'go'), '');
  return r;
}

/** A SIGBUS address the program wrote, checked to lie in [heap, heapEnd); the address as reports spell it. */
function inHeap(addr: string, r: { heap: number; heapEnd: number }): string {
  expect(Number(addr)).toBeGreaterThanOrEqual(r.heap);
  expect(Number(addr)).toBeLessThan(r.heapEnd);
  return addr.replace(/^0x0*/, '0x');
}

describe.skipIf(setup.skip !== undefined)('faultc lazy-pages failures: SIGBUS and an error, never wrong bytes', () => {
  workDir('faultc-criu-fail-');

  test('a socket path that exists already: refused, the path left alone', async () => {
    const d = await dumped('plain');
    const sock = join(d.img, 'lazy-pages.socket');
    writeFileSync(sock, 'not ours');
    const daemon = await startDaemon(d.img);
    const out = await daemon.done;
    expect(out.code).toBe(4);
    expect(out.stderr).toMatch(/FAULTC_CRIU_EADDRINUSE: .*lazy-pages\.socket.*the socket exists/);
    expect(readFileSync(sock, 'utf8')).toBe('not ours');
  });

  test('a truncated pages image, and one from another dump: refused before anything is served', async () => {
    const d = await dumped('plain');
    const other = dirs('other');
    const q = await startProgram([heapProg, '8', other.run, '1', 'plain'], other.run);
    await dump(criu, q, other.img);
    const pages = readTasks(d.img)[0]!.pagesPath;
    const size = statSync(pages).size;
    copyFileSync(pages, pages + '.orig');
    truncateSync(pages, size - 4096 * 7);
    let daemon = await startDaemon(d.img);
    let out = await daemon.done;
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/FAULTC_CRIU_PAGES_SIZE: .*pages-\d+\.img has \d+ bytes but pagemap-\d+\.img accounts for \d+/);
    expect(existsSync(join(d.img, 'lazy-pages.socket'))).toBe(false);
    // Without a daemon the lazy restore itself fails: nothing runs with missing pages.
    expect((await restore(criu, d.img)).status).not.toBe(0);
    expect(existsSync(join(d.run, 'result'))).toBe(false);
    copyFileSync(readTasks(other.img)[0]!.pagesPath, pages);
    daemon = await startDaemon(d.img);
    out = await daemon.done;
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/FAULTC_CRIU_PAGES_SIZE: .*truncated or belongs to another dump/);
  }, 120_000);

  test('a page that cannot be read once the restore runs: the task gets SIGBUS, the daemon an error event', async () => {
    const d = await dumped('plain');
    const r = await restoredWithHeapUnreadable(d);
    const addr = inHeap(await sigbusAt(d), r);
    const out = await daemonEnd(r.daemon, { img: d.img, pid: d.p.pid });
    expect(out.code).toBe(4);
    const rep = report(out.stdout);
    expect(rep.errors[0]).toMatchObject({ pid: d.p.pid, code: 'FAULTC_CRIU_EIO', address: addr });
    expect(rep.tasks[0]!.errors).toBeGreaterThan(0);
    expect(existsSync(join(d.run, 'result'))).toBe(false);
  }, 120_000);

  test('a child forked after the restore faulting on a page that cannot be read: SIGBUS to the child, an error event with its pid', async () => {
    const d = await dumped('child');
    const r = await restoredWithHeapUnreadable(d);
    const parent = await resultOf<{ pid: number; child: number; childStatus: number }>(d);
    expect(parent).toMatchObject({ pid: d.p.pid, childStatus: 7 });
    const addr = inHeap(readFileSync(join(d.run, 'sigbus'), 'utf8').trim(), r);
    expect(existsSync(join(d.run, 'result-child'))).toBe(false);
    const out = await daemonEnd(r.daemon, { img: d.img, pid: parent.child });
    expect(out.code).toBe(4);
    const rep = report(out.stdout);
    expect(rep.errors[0]).toMatchObject({ pid: parent.child, code: 'FAULTC_CRIU_EIO', address: addr });
    expect(rep.tasks[1]).toMatchObject({ pid: parent.child, parentPid: d.p.pid });
    expect(rep.tasks[1]!.errors).toBeGreaterThan(0);
  }, 120_000);

  test('the daemon killed mid-restore: the holder keeps its uffds, the task gets SIGBUS on a missing page, never a zero page', async () => {
    const d = await dumped('plain');
    const r = await restoredWithoutHeap(d);
    r.daemon.proc.kill('SIGKILL');
    writeFileSync(join(d.run, 'go'), '');
    const addr = inHeap(await sigbusAt(d), r);
    // The holder keeps the daemon's stderr until the task is gone, then ends.
    const out = await daemonEnd(r.daemon, { img: d.img, pid: d.p.pid }, 30_000);
    expect(out.code).toBeNull();
    const events = out.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { code: string; pid: number; address: string });
    expect(events).toEqual([{ event: 'error', code: 'FAULTC_CRIU_DAEMON_GONE', pid: d.p.pid, address: addr, message: expect.stringMatching(/SIGBUS/) }]);
    expect(existsSync(join(d.run, 'result'))).toBe(false);
  }, 120_000);

  test('a restore that fails or a daemon that hangs fails the test at once, with CRIU\'s log and the program\'s state', async () => {
    const d = await dumped('plain');
    // No daemon: the lazy restore cannot connect.
    const failed = await restoreOk(criu, d.img).then(() => undefined, (e: Error) => e.message);
    expect(failed).toMatch(/criu restore: status [1-9]/);
    expect(failed).toMatch(/restore\.log: \d+ error\/warning lines/);
    // The program never gets its go: with --no-background the daemon waits for ever.
    const daemon = await startDaemon(d.img, ['--no-background']);
    await restoreOk(criu, d.img);
    const hung = await daemonEnd(daemon, { img: d.img, pid: d.p.pid }, 1500).then(() => undefined, (e: Error) => e.message);
    expect(hung).toMatch(/faultc lazy-pages did not finish within 1500 ms/);
    expect(hung).toMatch(new RegExp(`pid ${d.p.pid}: stat ${d.p.pid} \\(pattern-heap\\) [SR]`));
    expect(hung).toMatch(/--- last 40 lines ---/);
    await waitFor('the program to be gone', () => (existsSync(`/proc/${d.p.pid}`) ? undefined : true), 10_000);
  }, 120_000);

  test('a second restore into the same directory while one runs fails; the first is unharmed', async () => {
    const d = await dumped('plain');
    await lazyRestore(d, ['--no-background'], {
      go: false,
      during: async () => {
        const second = await restore(criu, d.img);
        expect(second.status).not.toBe(0);
        const again = await startDaemon(d.img);
        expect((await again.done).code).not.toBe(0);
        writeFileSync(join(d.run, 'go'), '');
      },
    });
    expect(await resultOf(d)).toMatchObject({ pid: d.p.pid, bad: 0 });
  }, 120_000);
});

describe.skipIf(setup.skip !== undefined)('faultc lazy-pages --policy: regions taken from the image', () => {
  workDir('faultc-criu-policy-');

  /** The dumped program's heap as an address range region with the given rule. */
  function heapPolicy(d: { run: string; img: string }, rule: string): string {
    const heap = readJson<{ heap: string }>(join(d.run, 'ready'))!.heap;
    const file = join(d.img, '..', 'warm.pfp');
    writeFileSync(file, `policy warm {\n  source image = criu "img"\n  region heap in image at ${heap} size ${MIB} MiB {\n    on missing { ${rule} }\n  }\n  region stack in image "[stack]" { on missing { copy image at address } }\n}\n`);
    return file;
  }

  test('the rules decide each heap page: a poisoned first 16 pages, the rest copied from the image at its address', async () => {
    const d = await dumped('plain');
    const policy = heapPolicy(d, 'if page < 16 { fill 0xA5 } else { copy image at address prefetch 31 pages }');
    const { out } = await lazyRestore(d, ['--policy', policy]);
    // Exactly the poisoned pages differ from the run without a restore.
    expect(await resultOf<Result & { firstBad: number }>(d)).toMatchObject({ pid: d.p.pid, bad: 16, firstBad: 0 });
    const rep = report(out.stdout) as Report & { plan: { pid: number; pages: Record<string, number> }[] };
    expect(rep.plan[0]!.pid).toBe(d.p.pid);
    expect(rep.plan[0]!.pages['heap']).toBe(MIB * 256);
    expect(rep.plan[0]!.pages['stack']).toBeGreaterThan(0);
    const t = rep.tasks[0]!;
    expect(accounted(t)).toBe(t.totalPages);
    expect(rep.errors).toEqual([]);
  }, 120_000);

  test('a page the policy answers with sigbus: the task gets SIGBUS there, the daemon an error event', async () => {
    const d = await dumped('plain');
    const heap = Number.parseInt(readJson<{ heap: string }>(join(d.run, 'ready'))!.heap, 16);
    const policy = heapPolicy(d, 'if page == 100 { sigbus } else { copy image }');
    // The daemon keeps the task's uffd until the task, killed by its SIGBUS, exits.
    const { rep } = await lazyRestore(d, ['--policy', policy], { code: 4 });
    expect(Number(await sigbusAt(d))).toBe(heap + 100 * 4096);
    expect(rep.errors[0]).toMatchObject({ pid: d.p.pid, code: 'FAULTC_CRIU_POLICY_SIGBUS', address: '0x' + (heap + 100 * 4096).toString(16) });
  }, 120_000);

  test('a policy with errors is refused with its diagnostics before the socket exists', async () => {
    const d = dirs('badpolicy');
    const file = join(d.img, '..', 'bad.pfp');
    writeFileSync(file, 'policy p {\n  source image = criu "img"\n  region r in image "heap" { on missing { copy image } }\n}\n');
    const daemon = await startDaemon(d.img, ['--policy', file]);
    const out = await daemon.done;
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/bad\.pfp:3:21: error PFP4030: region `r`: "heap" is not a kind of area of a process image/);
    expect(existsSync(join(d.img, 'lazy-pages.socket'))).toBe(false);
  });
});

