// Runs in the guest (vite-node), from test/vm/vm-http.test.ts: nginx started
// here, on the guest's own loopback, serves the remote image; remote-hybrid.pfp
// runs on the kernel engine and on the uffd engine. For each engine:
//   1. region heap first-touched in ascending order from one native thread:
//      local pages (the kernel copies them), remote ones (fetched by the uffd
//      handlers, one range GET per run), filled ones; every byte compared;
//   2. region asked's deferred pages answered by an onDefer handler, touched
//      from 2 native threads;
//   3. a fresh load, heap touched in random order from 4 threads, bytes only;
//   4. a fresh load, the remote file removed from the server: a remote page
//      read by the kernel (write(2) from region memory) fails with EFAULT and
//      an error event naming sourceNotFound, never zeros.
// Prints one line per engine: HTTP { engine, ... }.
//
// usage: guest-http.ts <cache dir> <policy.pfp> <local image> <remote image>
import { copyFileSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { Nginx } from '../../bench/nginx.js';
import { loadPolicy, type EngineKind, type FaultEvent, type Policy } from '../../runtime/index.js';
import { kernelReadPage } from '../helpers/uffd.js';

const PAGE = 4096;
const [cacheDir, pfp, localImg, remoteImg] = process.argv.slice(2);
if (!cacheDir || !pfp || !localImg || !remoteImg) {
  console.error('usage: guest-http.ts <cache dir> <policy.pfp> <local image> <remote image>');
  process.exit(2);
}

const nginx = await Nginx.start();
const local = '/tmp/remote-local.img';
copyFileSync(localImg, local);
copyFileSync(remoteImg, join(nginx.www, 'remote.img'));
const localBytes = readFileSync(local);
const remoteBytes = readFileSync(remoteImg);

const fill = Buffer.alloc(PAGE, 0x5a);
const expectHeap = (p: number): Buffer =>
  p < 64 ? localBytes.subarray(p * PAGE, (p + 1) * PAGE) : p < 192 ? remoteBytes.subarray(p * PAGE, (p + 1) * PAGE) : fill;
const asked = (p: number): Uint8Array => Uint8Array.from({ length: PAGE }, (_, i) => (p * 13 + i) & 0xff);

// The guest runs under TCG, on a host that may be busy: a range GET or a
// JavaScript onDefer answer can take seconds there. The deadlines are the
// subject of test/runtime/http-source.test.ts and test/uffd/uffd-defer.test.ts; here a
// page past the default ones would end the run with SIGBUS, so they are long.
const DEADLINE_MS = 120_000;

function load(engine: EngineKind): Promise<Policy> {
  return loadPolicy(pfp as string, {
    engine,
    cacheDir,
    sources: { local, remote: nginx.url('remote.img') },
    httpDeadlineMs: DEADLINE_MS,
    deferDeadlineMs: DEADLINE_MS,
  });
}

/** Where the run is, on stderr: a signal that ends it names the step. */
const step = (engine: string, what: string): boolean => process.stderr.write(`guest-http: ${engine}: ${what}\n`);

function wrong(buffer: ArrayBuffer, pages: number, want: (p: number) => Uint8Array): number[] {
  const bad: number[] = [];
  for (let p = 0; p < pages; p++) if (!Buffer.from(buffer, p * PAGE, PAGE).equals(want(p))) bad.push(p);
  return bad;
}

const eventKey = (e: FaultEvent): string => `${e.region}@${e.offset / BigInt(PAGE)} ${e.action} pages=${e.pages} error=${e.error ?? '-'}`;
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 300));

function shuffled(n: number): Uint32Array {
  const a = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j] as number, a[i] as number];
  }
  return a;
}

async function run(engine: EngineKind): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { engine };
  // 1 and 2: in order, every event.
  step(engine, '1-2 in order');
  let policy = await load(engine);
  out.loaded = policy.engine;
  try {
    const events: FaultEvent[] = [];
    policy.on('fault', (e) => events.push(e));
    const heap = policy.region('heap');
    const deferred = policy.region('asked').onDefer((f) => asked(Number(f.offset) / PAGE));
    await heap.touch(Uint32Array.from({ length: 256 }, (_, i) => i), { threads: 1 });
    await deferred.touch(Uint32Array.from({ length: 16 }, (_, i) => i), { threads: 2 });
    await settle();
    out.heapWrong = wrong(heap.buffer as ArrayBuffer, 256, expectHeap);
    out.askedWrong = wrong(deferred.buffer as ArrayBuffer, 16, asked);
    out.events = events.map(eventKey).sort();
    out.heapStats = heap.stats();
    out.askedStats = deferred.stats();
    out.http = policy.sourceStats('remote');
  } finally {
    await policy.close();
  }
  // 3: random order, 4 threads.
  step(engine, '3 random, 4 threads');
  policy = await load(engine);
  try {
    const heap = policy.region('heap');
    await heap.touch(shuffled(256), { threads: 4 });
    out.random4Wrong = wrong(heap.buffer as ArrayBuffer, 256, expectHeap);
    out.random4Errors = heap.stats().errors;
  } finally {
    await policy.close();
  }
  // 4: the file gone from the server after load.
  step(engine, '4 the file gone');
  policy = await load(engine);
  const gone = join(nginx.www, 'remote.img');
  try {
    const events: FaultEvent[] = [];
    policy.on('fault', (e) => events.push(e));
    const heap = policy.region('heap');
    renameSync(gone, `${gone}.away`);
    const code = kernelReadPage(heap.buffer as ArrayBuffer, 100, '/tmp/guest-http-sink');
    const local0 = kernelReadPage(heap.buffer as ArrayBuffer, 0, '/tmp/guest-http-sink');
    await settle();
    out.gone = { code, local0, events: events.map(eventKey).sort(), stats: heap.stats(), http: policy.sourceStats('remote') };
  } finally {
    renameSync(`${gone}.away`, gone);
    await policy.close();
  }
  return out;
}

try {
  for (const engine of ['kernel', 'uffd'] as const) {
    try {
      console.log(`HTTP ${JSON.stringify(await run(engine))}`);
    } catch (e) {
      console.log(`HTTP ${JSON.stringify({ engine, failed: String((e as Error).stack ?? e) })}`);
    }
  }
} finally {
  await nginx.dispose();
}
