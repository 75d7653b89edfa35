// Two builds of faultc, the same uffd rows, one interleaved run: the before and
// after of a change (docs/architecture.md, "Cost"). Each build is a checkout
// with dist/ and native/ built; each round runs both, one process each, in a
// seeded shuffled order, so load that comes and goes falls on both.
//
//   node dist/bench/before-after.js BEFORE_ROOT AFTER_ROOT [--rounds N] [--pages N]
//
// A row's figure is the median over rounds of ns per page of the policy's
// touch (one faulting thread) and of its ratio to native anonymous first touch
// measured just before it in the same process; after/before is the median of
// the per-round ratios, with their range.
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median } from './section.js';

interface Row {
  name: string;
  policy: string;
  write: boolean;
  options?: Record<string, unknown>;
}

const ROWS: Row[] = [
  { name: 'uffd zero', policy: 'zero.pfp', write: true },
  { name: 'uffd copy', policy: 'copy.pfp', write: true },
  { name: 'uffd copy + prefetch 15, sequential read', policy: 'copy-prefetch.pfp', write: false, options: { zeroCopy: false } },
];

type Pass = Record<string, { ns: number; native: number }>;

interface Region {
  touch(order: Uint32Array, o: { threads: number; write: boolean; value: number }): Promise<{ ns: number }>;
}
interface Policy {
  region(id: string): Region;
  close(): Promise<void>;
}

/** One pass of every row against the build at root (in a child process: its own dist/ and addon). */
async function onePass(root: string, pages: number): Promise<Pass> {
  const api = (await import(pathToFileURL(join(root, 'dist', 'runtime', 'index.js')).href)) as { loadPolicy(p: string, o: object): Promise<Policy> };
  const uffd = (await import(pathToFileURL(join(root, 'dist', 'runtime', 'engines', 'uffd.js')).href)) as { touchAnonymous(pages: number, threads: number, write: boolean): Promise<{ ns: number }> };
  const order = Uint32Array.from({ length: pages }, (_, i) => i);
  const out: Pass = {};
  for (const r of ROWS) {
    const native = (await uffd.touchAnonymous(pages, 1, true)).ns / pages;
    const policy = await api.loadPolicy(join(root, 'bench', 'policies', r.policy), { engine: 'uffd', ...r.options });
    try {
      const t = await policy.region('r').touch(order, { threads: 1, write: r.write, value: 1 });
      out[r.name] = { ns: t.ns / pages, native };
    } finally {
      await policy.close();
    }
  }
  return out;
}

function option(argv: string[], name: string, fallback: number): number {
  const i = argv.indexOf(name);
  const v = i >= 0 ? Number(argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} takes a positive integer`);
  return v;
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--one') {
    process.stdout.write(JSON.stringify(await onePass(argv[1] ?? '', Number(argv[2]))) + '\n');
    return;
  }
  const [before, after] = argv;
  if (!before || !after || before.startsWith('-') || after.startsWith('-')) {
    throw new Error('usage: before-after.js BEFORE_ROOT AFTER_ROOT [--rounds N] [--pages N]');
  }
  const rounds = option(argv, '--rounds', 20);
  const pages = option(argv, '--pages', 16384);
  const builds = { before, after };
  const passes: Record<'before' | 'after', Pass[]> = { before: [], after: [] };
  let seed = 12345;
  const coin = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 1) === 0;
  const load0 = loadavg()[0];
  const start = new Date();
  for (let r = 0; r < rounds; r++) {
    for (const which of coin() ? (['before', 'after'] as const) : (['after', 'before'] as const)) {
      const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--one', builds[which], String(pages)], { encoding: 'utf8' });
      passes[which].push(JSON.parse(out.trim().split('\n').pop() ?? '{}') as Pass);
    }
  }
  console.log(`${start.toISOString()}, ${rounds} rounds of ${pages} pages, load average ${load0.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end`);
  console.log('| row (1 thread) | before ns/page (x native) | after ns/page (x native) | after/before, median of rounds [range] |');
  console.log('|---|---|---|---|');
  for (const { name } of ROWS) {
    const ns = (w: 'before' | 'after') => passes[w].map((p) => p[name]?.ns ?? NaN);
    const ratio = (w: 'before' | 'after') => passes[w].map((p) => (p[name]?.ns ?? NaN) / (p[name]?.native ?? NaN));
    const b = ns('before');
    const perRound = ns('after').map((v, i) => v / (b[i] ?? NaN));
    const cell = (w: 'before' | 'after') => `${median(ns(w)).toFixed(0)} (${median(ratio(w)).toFixed(2)}x)`;
    console.log(`| ${name} | ${cell('before')} | ${cell('after')} | ${median(perRound).toFixed(2)} [${Math.min(...perRound).toFixed(2)}..${Math.max(...perRound).toFixed(2)}] |`);
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
