// bench section `peers` (`npm run bench -- --peers`): faultc's uffd engine
// against the tools people use for the same job, on the same files with the
// same touch loop (native/src/uffd_touch.c) in the same run:
//   native     fresh anonymous memory, written (the kernel's zero fill): ratio 1
//   kernel     a private mapping of the file, read: the kernel's own fault, the
//              limit for any policy that copies a file
//   raw uffd   a minimal userfaultfd handler (pread + UFFDIO_COPY, one page a fault)
//   UMap       LLNL UMap with 64 KiB pages (its fastest setting here)
//   faultc     the best policy for the access: sequential `prefetch 15 pages
//              ahead`, random `prefetch block 64 KiB`
// for 64 and 256 MiB, a file on disk (in the page cache) and on /dev/shm,
// sequential and random, 1 and 2 threads; each repetition runs the five in a
// shuffled order and the figure is the median of the repetitions. The run is
// repeated with two busy loops beside it (`--busy 0,2` to choose).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicy } from '../runtime/index.js';
import { packageRoot } from '../runtime/engines/native.js';
import { onTmpfs } from '../runtime/proc/tmpfs.js';
import { median } from './section.js';

const PAGE = 4096;
const CONTESTANTS = ['native', 'kernel', 'raw uffd', 'UMap 64K', 'faultc'] as const;
type Contestant = (typeof CONTESTANTS)[number];
const PEER_MODE: Record<Exclude<Contestant, 'faultc'>, string> = { native: 'anon', kernel: 'kernel-file', 'raw uffd': 'raw-uffd', 'UMap 64K': 'umap' };

export interface PeersCase {
  mib: number;
  place: 'disk' | 'shm';
  order: 'seq' | 'random';
  threads: number;
}

export interface PeersRow extends PeersCase {
  busy: number;
  /** Median µs per page of each contestant (null: failed in every repetition). */
  us: Record<Contestant, number | null>;
  /** Runs that failed (UMap aborts on an EEXIST race now and then). */
  failures: Partial<Record<Contestant, number>>;
}

export interface PeersResult {
  reps: number;
  load: string;
  rows: PeersRow[];
}

/** Why the peers cannot be built here (no cmake, no C compiler, no UMap tarball), or null. */
export function unavailablePeers(): string | null {
  const vendor = process.env.FAULTC_VENDOR ?? join(packageRoot, '..', 'shared', 'vendor');
  const onPath = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
  if (!onPath('cmake')) return 'needs cmake to build LLNL UMap (Debian: apt-get install cmake)';
  if (!onPath('cc')) return 'needs a C compiler (cc) for the peer driver';
  const tarball = existsSync(vendor) && readdirSync(vendor).some((f) => /^umap-.*\.tar\.gz$/.test(f));
  if (!tarball) return `needs ${join(vendor, 'umap-*.tar.gz')} (FAULTC_VENDOR names another folder)`;
  return null;
}

/** The peer driver, built once per source hash into the cache. */
function peerBinary(): { path: string; umap: boolean } {
  const cache = process.env.FAULTC_CACHE ?? join(packageRoot, '.cache');
  const umap = execFileSync('bash', [join(packageRoot, 'scripts', 'umap.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop() ?? '';
  const sources = [join(packageRoot, 'bench', 'peers', 'peer_touch.c'), join(packageRoot, 'native', 'src', 'uffd_touch.c'), join(packageRoot, 'native', 'include', 'uffd_touch.h')];
  const hash = createHash('sha256');
  for (const s of sources) hash.update(readFileSync(s));
  hash.update(umap);
  const path = join(cache, 'bench', `peer_touch-${hash.digest('hex').slice(0, 16)}`);
  if (!existsSync(path)) {
    mkdirSync(join(cache, 'bench'), { recursive: true });
    execFileSync('cc', ['-O2', '-Wall', '-DWITH_UMAP', `-I${join(packageRoot, 'native', 'include')}`, `-I${join(umap, 'include')}`, sources[0] as string, sources[1] as string, '-o', path, `-L${join(umap, 'lib')}`, `-Wl,-rpath,${join(umap, 'lib')}`, '-lumap', '-lpthread'], { stdio: 'inherit' });
  }
  return { path, umap: true };
}

/** Deterministic shuffle (the same random order for every contestant). */
function pageOrder(pages: number, order: 'seq' | 'random', seed: number): Uint32Array {
  const a = Uint32Array.from({ length: pages }, (_, i) => i);
  if (order === 'seq') return a;
  let s = seed >>> 0 || 1;
  for (let i = pages - 1; i > 0; i--) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const j = (s >>> 0) % (i + 1);
    const t = a[i] as number;
    a[i] = a[j] as number;
    a[j] = t;
  }
  return a;
}

function shuffled<T>(xs: readonly T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

/** A policy over the whole file: the best faultc policy for this access. */
function policyText(mib: number, order: 'seq' | 'random'): string {
  const prefetch = order === 'seq' ? 'prefetch 15 pages ahead' : 'prefetch block 64 KiB';
  return `policy peers {\n  source image = file "image"\n  region r size ${mib} MiB {\n    on missing { copy image at offset ${prefetch} }\n  }\n}\n`;
}

function runPeer(bin: string, mode: string, file: string, orderFile: string, threads: number): number | null {
  try {
    const out = execFileSync(bin, [mode, file, orderFile, String(threads)], {
      encoding: 'utf8',
      env: { ...process.env, UMAP_PAGESIZE: '65536' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
    const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { ns?: number; pages?: number };
    return r.ns !== undefined && r.pages ? r.ns / r.pages / 1000 : null;
  } catch (e) {
    // UMap can abort after printing (an EEXIST race in its fillers at teardown).
    const out = String((e as { stdout?: string }).stdout ?? '');
    const line = out.trim().split('\n').pop();
    if (line?.startsWith('{')) {
      const r = JSON.parse(line) as { ns: number; pages: number };
      return r.ns / r.pages / 1000;
    }
    return null;
  }
}

async function runFaultc(policyPath: string, file: string, order: Uint32Array, threads: number): Promise<number> {
  const policy = await loadPolicy(policyPath, { engine: 'uffd', sources: { image: file } });
  try {
    const t = await policy.region('r').touch(order, { threads, write: false, value: 1 });
    return t.ns / order.length / 1000;
  } finally {
    await policy.close();
  }
}

function busyLoops(n: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
}

export const CASES: PeersCase[] = [64, 256].flatMap((mib) =>
  (['disk', 'shm'] as const).flatMap((place) =>
    (['seq', 'random'] as const).flatMap((order) => [1, 2].map((threads) => ({ mib, place, order, threads }))),
  ),
);

export async function benchPeers(opts: { reps?: number; busy?: number[]; mib?: number[] } = {}): Promise<PeersResult> {
  const reps = opts.reps ?? 3;
  const { path: bin } = peerBinary();
  const work = { disk: mkdtempSync(join(tmpdir(), 'faultc-peers-')), shm: onTmpfs('/dev/shm') ? mkdtempSync('/dev/shm/faultc-peers-') : null };
  const rows: PeersRow[] = [];
  try {
    for (const busy of opts.busy ?? [0, 2]) {
      const loops = busyLoops(busy);
      try {
        for (const c of CASES.filter((k) => !opts.mib || opts.mib.includes(k.mib))) {
          const dir = c.place === 'disk' ? work.disk : work.shm;
          if (dir === null) continue;
          const file = join(dir, `image-${c.mib}`);
          if (!existsSync(file)) writeFileSync(file, pattern(c.mib << 20));
          const policyPath = join(dir, `peers-${c.mib}-${c.order}.pfp`);
          writeFileSync(policyPath, policyText(c.mib, c.order));
          const pages = (c.mib << 20) / PAGE;
          const order = pageOrder(pages, c.order, 0x9e3779b9);
          const orderFile = join(dir, `order-${c.mib}-${c.order}`);
          writeFileSync(orderFile, Buffer.from(order.buffer, order.byteOffset, order.byteLength));
          const samples = new Map<Contestant, number[]>(CONTESTANTS.map((k) => [k, []]));
          const failures: Partial<Record<Contestant, number>> = {};
          for (let rep = 0; rep < reps; rep++) {
            for (const who of shuffled(CONTESTANTS)) {
              const us = who === 'faultc' ? await runFaultc(policyPath, file, order, c.threads) : runPeer(bin, PEER_MODE[who], file, orderFile, c.threads);
              if (us === null) failures[who] = (failures[who] ?? 0) + 1;
              else samples.get(who)?.push(us);
            }
          }
          const us = Object.fromEntries(CONTESTANTS.map((k) => [k, samples.get(k)?.length ? median(samples.get(k) as number[]) : null])) as Record<Contestant, number | null>;
          rows.push({ ...c, busy, us, failures });
          process.stderr.write(`  ${describe(c)}, busy ${busy}: ${CONTESTANTS.map((k) => `${k} ${fmt(us[k])}`).join(', ')}\n`);
        }
      } finally {
        for (const l of loops) l.kill('SIGKILL');
      }
    }
  } finally {
    rmSync(work.disk, { recursive: true, force: true });
    if (work.shm) rmSync(work.shm, { recursive: true, force: true });
  }
  return { reps, load: readFileSync('/proc/loadavg', 'utf8').trim(), rows };
}

/** Each page starts with its page number, so a wrong page is visible in the sums. */
function pattern(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let off = 0; off < bytes; off += PAGE) b.writeUInt32LE(off / PAGE, off);
  return b;
}

function describe(c: PeersCase): string {
  return `${c.mib} MiB ${c.place} ${c.order} ${c.threads}t`;
}

function fmt(us: number | null): string {
  return us === null ? 'failed' : `${us.toFixed(2)}`;
}

function ratio(a: number | null, b: number | null): string {
  return a === null || b === null ? '-' : `${(a / b).toFixed(2)}x`;
}

export function formatPeersBench(result: unknown): string {
  const r = result as PeersResult;
  const out = [`µs per page, median of ${r.reps} shuffled repetitions; load average at the end: ${r.load}`];
  out.push('case                     busy  native  kernel  raw uffd  UMap 64K  faultc  faultc/UMap  faultc/native  faultc/kernel');
  for (const row of r.rows) {
    const u = row.us;
    const failed = Object.entries(row.failures).map(([k, n]) => `${k} failed ${n}x`).join(', ');
    out.push(
      `${describe(row).padEnd(24)} ${String(row.busy).padStart(4)}  ${fmt(u.native).padStart(6)}  ${fmt(u.kernel).padStart(6)}  ${fmt(u['raw uffd']).padStart(8)}  ${fmt(u['UMap 64K']).padStart(8)}  ${fmt(u.faultc).padStart(6)}  ${ratio(u.faultc, u['UMap 64K']).padStart(11)}  ${ratio(u.faultc, u.native).padStart(13)}  ${ratio(u.faultc, u.kernel).padStart(13)}${failed ? `  (${failed})` : ''}`,
    );
  }
  return out.join('\n');
}
