// Runs in the guest (vite-node), from test/vm-kernel.test.ts: every example
// policy through the runtime on the kernel engine and on the uffd engine.
// For each case and engine: every page the evaluator says is not SIGBUS is
// first-touched in ascending order from one native thread, compared byte for
// byte with the evaluator's expectation, and the events are collected. Then
// the kernel engine again with 2 threads, bytes only. Prints one JSON line per
// case and engine: { case, engine, mismatches, pages, touched, events, stats }.
//
// usage: guest-engines.ts <cache dir> <case>...   (case: file.pfp[:write]; a
// relative file is one of examples/)
import { copyFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadPolicy, type EngineKind } from '../../runtime/index.js';
import type { FaultEvent } from '../../runtime/events.js';
import { comparePage, expectPage, SourceReader } from '../../runtime/verify-contents.js';

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
}

function eventKey(e: FaultEvent): string {
  return `${e.region}@${e.offset} ${e.access} ${e.action} pages=${e.pages} error=${e.error ?? '-'}`;
}

async function runCase(spec: string, engine: EngineKind, threads: number): Promise<Summary[]> {
  const [file = '', flag] = spec.split(':');
  const write = flag === 'write';
  const pfp = file.startsWith('/') ? file : join(root, 'examples', file);
  const probe = await loadPolicy(pfp, { engine: 'uffd', cacheDir });
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
      const touchable = exp.flatMap((e, p) => (e.kind === 'bytes' ? [p] : []));
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
      });
    }
  } finally {
    sources.close();
    await policy.close();
  }
  return out;
}

for (const spec of cases) {
  for (const [engine, threads] of [['kernel', 1], ['uffd', 1], ['kernel', 2]] as const) {
    try {
      for (const s of await runCase(spec, engine, threads)) console.log(`ENGINES ${JSON.stringify(s)}`);
    } catch (e) {
      console.log(`ENGINES ${JSON.stringify({ case: spec, engine, threads, failed: String((e as Error).stack ?? e) })}`);
    }
  }
}
