// Runs in the guest (vite-node), from test/vm/vm-kernel.test.ts: every example
// policy through the runtime on the kernel engine and on the uffd engine.
// For each case and engine: every page the evaluator says is not SIGBUS is
// first-touched in ascending order from one native thread, compared byte for
// byte with the evaluator's expectation, and the events are collected. Then
// the kernel engine again with 2 threads, bytes only. A `:write` case touches
// with writes, leaving out the pages whose `on write` rule is sigbus (that is
// fault_run's to check, with SIGBUS caught), then reads the dirty pages, resets
// them, writes every other touched page again and reads them once more.
// Prints one JSON line per case and engine:
// { case, engine, mismatches, pages, touched, events, stats, dirty }.
//
// usage: guest-engines.ts <cache dir> <case>...   (case: file.pfp[:write]; a
// relative file is one of examples/)
import { copyFileSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadPolicy, type EngineKind } from '../../runtime/index.js';
import type { FaultEvent } from '../../runtime/api/events.js';
import { comparePage, expectPage, expectWrite, SourceReader } from '../../runtime/run/verify-contents.js';
import { mappedFile } from '../../runtime/proc/maps.js';
import { onTmpfs } from '../../runtime/proc/tmpfs.js';

const root = join(import.meta.dirname, '..', '..');
const [cacheDir, ...cases] = process.argv.slice(2);
if (!cacheDir || cases.length === 0) {
  console.error('usage: guest-engines.ts <cache dir> <file.pfp[:write]>...');
  process.exit(2);
}

/** The example data, copied to the guest's tmpfs once: reading it over 9p per page is slow. */
const local = new Map<string, string>();
function localCopy(path: string): string {
  let to = local.get(path);
  if (!to) {
    to = join('/tmp', basename(path));
    copyFileSync(path, to);
    local.set(path, to);
  }
  return to;
}

interface Summary {
  case: string;
  engine: EngineKind;
  threads: number;
  region: string;
  pages: number;
  touched: number;
  sigbusPages: number;
  mismatches: number;
  firstMismatch?: string;
  events: string[];
  stats: unknown;
  /** `:write` cases: the dirty pages after the first writes, after the second ones, and the evaluator's first set. */
  dirty?: { first: string; second: string; expected: string };
  /** What /proc/self/maps names at the region: the source file it is mapped from (zero-copy), or ''. */
  mapped: string;
  /** AnonHugePages of the region after the touches (kB): its PMD-mapped huge pages. */
  anonHugeKb: number;
  /** Every source is on tmpfs (/tmp in the guest): the uffd engine maps zero-copy regions from it. */
  sourcesOnTmpfs: boolean;
  /** `:write` cases: first writes made (each must reach the `on write` rules). */
  firstWrites?: number;
}

/** AnonHugePages (kB) of the mapping that starts at `address`: its PMD-mapped huge pages. */
function anonHugeKb(address: bigint): number {
  let inside = false;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const range = /^([0-9a-f]+)-[0-9a-f]+ /.exec(line);
    if (range) inside = BigInt(`0x${range[1]}`) === address;
    else if (inside && line.startsWith('AnonHugePages:')) return Number(/(\d+) kB/.exec(line)?.[1] ?? -1);
  }
  return -1;
}

/** Ascending page numbers as ranges: "0-3,7". */
function ranges(pages: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < pages.length; ) {
    let j = i;
    while (j + 1 < pages.length && pages[j + 1] === (pages[j] ?? 0) + 1) j++;
    out.push(i === j ? `${pages[i]}` : `${pages[i]}-${pages[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

function eventKey(e: FaultEvent): string {
  return `${e.region}@${e.offset} ${e.access} ${e.action} pages=${e.pages} error=${e.error ?? '-'}`;
}

async function runCase(spec: string, engine: EngineKind, threads: number): Promise<Summary[]> {
  const [file = '', flag] = spec.split(':');
  const write = flag === 'write';
  const pfp = file.startsWith('/') ? file : join(root, 'examples', file);
  const probe = await loadPolicy(pfp, { engine, cacheDir });
  const overrides = Object.fromEntries(probe.manifest.sources.map((s, i) => [s.id, localCopy(probe.sourcePaths[i] ?? s.resolvedPath)]));
  await probe.close();
  const policy = await loadPolicy(pfp, { engine, cacheDir, sources: overrides });
  const sources = new SourceReader(policy.sourcePaths);
  const out: Summary[] = [];
  try {
    for (const id of policy.regionIds) {
      const region = policy.region(id);
      const events: FaultEvent[] = [];
      region.on('fault', (e) => events.push(e));
      const nPages = region.size / 4096;
      const exp = Array.from({ length: nPages }, (_, p) => expectPage(policy.manifest.ir, region.index, p, region.address, write, sources));
      const onWrite = (p: number) => expectWrite(policy.manifest.ir, region.index, p, region.address, sources);
      const touchable = exp.flatMap((e, p) => (e.kind === 'bytes' && !(write && onWrite(p).action === 'sigbus') ? [p] : []));
      await region.touch(Uint32Array.from(touchable), { threads, write, value: 0 });
      const mem = new Uint8Array(region.buffer);
      let mismatches = 0;
      let firstMismatch: string | undefined;
      for (const p of touchable) {
        const e = exp[p];
        if (e?.kind !== 'bytes') continue;
        const want = e.bytes.slice();
        if (write) want[0] = 0;
        const m = comparePage(mem, p, want);
        if (m) {
          mismatches++;
          firstMismatch ??= `page ${p} byte ${m.at}: ${m.actual} != ${m.expected}`;
        }
      }
      let dirty: Summary['dirty'];
      let firstWrites: number | undefined;
      if (write) {
        const first = region.dirtyPages();
        region.resetDirty();
        await region.touch(Uint32Array.from(touchable.filter((_, i) => i % 2 === 0)), { threads, write, value: 0 });
        const expected = touchable.filter((p) => onWrite(p).trackDirty);
        dirty = { first: ranges(first), second: ranges(region.dirtyPages()), expected: ranges(expected) };
        firstWrites = touchable.length + Math.ceil(touchable.length / 2);
      }
      // Events arrive from the engine's poll thread: give the last ones a moment.
      await new Promise((r) => setTimeout(r, 300));
      out.push({
        case: spec,
        engine,
        threads,
        region: id,
        pages: nPages,
        touched: touchable.length,
        sigbusPages: nPages - touchable.length,
        mismatches,
        ...(firstMismatch ? { firstMismatch } : {}),
        events: events.map(eventKey).sort(),
        stats: region.stats(),
        mapped: mappedFile(region.address),
        anonHugeKb: anonHugeKb(region.address),
        sourcesOnTmpfs: policy.sourcePaths.every(onTmpfs),
        ...(dirty ? { dirty, firstWrites } : {}),
      });
    }
  } finally {
    sources.close();
    await policy.close();
  }
  return out;
}

// GUEST_ENGINES=kernel:1,uffd:1 picks the runs (default: kernel:1,uffd:1,kernel:2).
const runs = (process.env.GUEST_ENGINES ?? 'kernel:1,uffd:1,kernel:2').split(',').map((r) => {
  const [engine, threads] = r.split(':');
  return [engine === 'uffd' ? 'uffd' : 'kernel', Number(threads ?? 1)] as const;
});

for (const spec of cases) {
  for (const [engine, threads] of runs) {
    try {
      for (const s of await runCase(spec, engine, threads)) console.log(`ENGINES ${JSON.stringify(s)}`);
    } catch (e) {
      console.log(`ENGINES ${JSON.stringify({ case: spec, engine, threads, failed: String((e as Error).stack ?? e) })}`);
    }
  }
}
