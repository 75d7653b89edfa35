// Per-fault cost of the kernel engine against native anonymous memory and the
// uffd engine, in one run on the faultc kernel: native first touch, kernel
// engine zero / copy / copy+prefetch / copy+block prefetch / 2 MiB blocks of
// zero and copy, uffd engine copy; 1 and 2 threads.
// Each variant first-touches (writes one byte per page of) a fresh 64 MiB
// region from native threads; trials alternate the variants so drift hits
// them alike; medians are reported with ratios:
//   kernel zero / native            target <= 1.1
//   uffd copy / kernel copy         target >= 4
//   2 MiB-block zero, copy / native target <= 0.1 per page
//   2-thread / 1-thread throughput  target >= 1.8 (per variant)
//
//   node dist/bench/kernel.js [--pages N] [--trials N] [--settle MS] [--json]   (in the guest)
//   node dist/bench/kernel.js --vm [...]                          (boots the guest)
//   FAULTC_BENCH_KERNEL=1 npx vite-node bench/kernel.ts -- --vm   (from source)
// Needs root and the patched kernel; --vm runs it under kernel/run-in-vm.sh.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { artifactPath } from '../codegen/manifest.js';
import { loadPolicy, type EngineKind } from '../runtime/index.js';
import { touchAnonymous } from '../runtime/engines/uffd.js';

const here = dirname(fileURLToPath(import.meta.url));
const PAGE = 4096;

function repoRoot(): string {
  return here.endsWith(join('dist', 'bench')) ? resolve(here, '..', '..') : resolve(here, '..');
}

export interface KernelBenchOptions {
  /** Pages per touch (default 16384 = 64 MiB). */
  pages?: number;
  /** Alternating rounds over all variants (default 5). */
  trials?: number;
  /**
   * Milliseconds to wait before each timed touch, after the policy is loaded
   * (or, for native, after the previous variant closed): the kernel's deferred
   * work of a program load or unload (RCU callbacks, JIT memory freed, its
   * TLB flushes) and V8's background work then no longer overlap the touch.
   * Default 0.
   */
  settleMs?: number;
}

// kernel-copy and kernel-copy-prefetch copy into anonymous memory (zeroCopy:
// false), as the uffd engine does; kernel-copy-block prefetches the rest of the
// aligned 64 KiB block that holds the page; kernel-map-read is the same copy policy
// mapped from its source (zero-copy) and read, where the page-cache page is
// mapped instead of copied (a write would copy it, as kernel-copy does).
// kernel-zero-2m and kernel-copy-2m decide 2 MiB blocks (`prefetch block
// 2 MiB`): the runtime maps their regions 2 MiB-aligned with MADV_HUGEPAGE,
// and the hook installs each block as one PMD-mapped huge page.
export type Variant =
  | 'native'
  | 'kernel-zero'
  | 'kernel-copy'
  | 'kernel-copy-prefetch'
  | 'kernel-copy-block'
  | 'kernel-zero-2m'
  | 'kernel-copy-2m'
  | 'kernel-map-read'
  | 'uffd-copy';
export const VARIANTS: Variant[] = [
  'native',
  'kernel-zero',
  'kernel-copy',
  'kernel-copy-prefetch',
  'kernel-copy-block',
  'kernel-zero-2m',
  'kernel-copy-2m',
  'kernel-map-read',
  'uffd-copy',
];

export interface KernelBenchResult {
  pages: number;
  trials: number;
  /** Median ns per page, by variant and thread count (wall time of the touch / pages). */
  nsPerPage: Record<Variant, { 1: number; 2: number }>;
  /** Faults the engine counted per touch with one thread (median; native: not counted). */
  faults: Record<Variant, number | null>;
  ratios: {
    kernelZeroVsNative: number;
    uffdCopyVsKernelCopy: number;
    /** 2 MiB blocks, one huge page each, per page against native first touch. */
    kernelZero2mVsNative: number;
    kernelCopy2mVsNative: number;
    /** Throughput with 2 threads / with 1, per variant. */
    twoThreadScaling: Record<Variant, number>;
  };
  /**
   * The hook alone (bench/kernel-hook.c): one C process touching fresh memory
   * with and without the bench_zero program attached, same loop, alternated.
   */
  hook: { nsPerPage: { native: { 1: number; 2: number }; hooked: { 1: number; 2: number } }; zeroVsNative: number; twoThreadScaling: number } | null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function policyText(pages: number): string {
  const size = `${(pages * PAGE) / (1024 * 1024)} MiB`;
  return `# bench policies: one region each, written by bench/kernel.ts
policy bench_zero {
  region r size ${size} { on missing { zero } }
}
policy bench_copy {
  source img = file "bench.img"
  region r size ${size} { on missing { copy img at offset } }
}
policy bench_copy_prefetch {
  source img = file "bench.img"
  region r size ${size} { on missing { copy img at offset prefetch 15 pages ahead } }
}
policy bench_copy_block {
  source img = file "bench.img"
  region r size ${size} { on missing { copy img at offset prefetch block 64 KiB } }
}
policy bench_zero_2m {
  region r size ${size} { on missing { zero prefetch block 2 MiB } }
}
policy bench_copy_2m {
  source img = file "bench.img"
  region r size ${size} { on missing { copy img at offset prefetch block 2 MiB } }
}
`;
}

const POLICY: Record<Exclude<Variant, 'native'>, string> = {
  'kernel-zero': 'bench_zero',
  'kernel-copy': 'bench_copy',
  'kernel-copy-prefetch': 'bench_copy_prefetch',
  'kernel-copy-block': 'bench_copy_block',
  'kernel-zero-2m': 'bench_zero_2m',
  'kernel-copy-2m': 'bench_copy_2m',
  'kernel-map-read': 'bench_copy',
  'uffd-copy': 'bench_copy',
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function timeVariant(v: Variant, threads: 1 | 2, pfp: string, cacheDir: string, pages: number, settleMs = 0): Promise<{ ns: number; faults: number | null }> {
  if (v === 'native') {
    if (settleMs) await sleep(settleMs);
    const r = await touchAnonymous(pages, threads, true);
    return { ns: r.ns / pages, faults: null };
  }
  const engine: EngineKind = v.startsWith('uffd') ? 'uffd' : 'kernel';
  const policy = POLICY[v];
  const zeroCopy = v === 'kernel-map-read';
  const p = await loadPolicy(pfp, { engine, cacheDir, policy, zeroCopy });
  try {
    const region = p.region('r');
    if (settleMs) await sleep(settleMs);
    const all = new Uint32Array(pages);
    for (let i = 0; i < pages; i++) all[i] = i;
    const r = await region.touch(all, { threads, write: !zeroCopy, value: 1 });
    return { ns: r.ns / pages, faults: region.stats().faults };
  } finally {
    await p.close();
  }
}

/** Runs bench/kernel-hook.c over the bench_zero program; null when it cannot be built here. */
async function hookAlone(work: string, pfp: string, cacheDir: string, pages: number, trials: number): Promise<KernelBenchResult['hook']> {
  const p = await loadPolicy(pfp, { engine: 'kernel', cacheDir, policy: 'bench_zero' });
  const object = artifactPath(p.manifest, 'faultBpfO');
  await p.close();
  if (!object) return null;
  const root = repoRoot();
  const exe = join(work, 'kernel-hook');
  execFileSync('gcc', ['-O2', '-I', join(root, 'native', 'include'), '-o', exe, join(root, 'bench', 'kernel-hook.c'), '-lbpf', '-lpthread']);
  const r = JSON.parse(execFileSync(exe, [object, String(pages), String(trials)], { encoding: 'utf8' })) as {
    native: { 1: number; 2: number };
    hooked: { 1: number; 2: number };
  };
  return {
    nsPerPage: { native: r.native, hooked: r.hooked },
    zeroVsNative: r.hooked[1] / r.native[1],
    twoThreadScaling: r.hooked[1] / r.hooked[2],
  };
}

export async function benchKernel(opts: KernelBenchOptions = {}): Promise<KernelBenchResult> {
  const pages = opts.pages ?? 16384;
  const trials = opts.trials ?? 5;
  const work = mkdtempSync(join(tmpdir(), 'faultc-bench-kernel-'));
  try {
    const img = Buffer.alloc(pages * PAGE);
    for (let i = 0; i < img.length; i += 64) img[i] = (i >> 6) & 0xff;
    writeFileSync(join(work, 'bench.img'), img);
    const pfp = join(work, 'bench.pfp');
    writeFileSync(pfp, policyText(pages));
    const cacheDir = join(work, 'cache');
    const samples = new Map<string, number[]>();
    const faults = new Map<Variant, number[]>();
    // One discarded round first: under QEMU the first touch of guest memory
    // also faults on the host, and the policies' first load compiles them.
    for (const threads of [1, 2] as const) for (const v of VARIANTS) await timeVariant(v, threads, pfp, cacheDir, pages);
    for (let t = 0; t < trials; t++) {
      for (const threads of [1, 2] as const) {
        for (const v of VARIANTS) {
          const r = await timeVariant(v, threads, pfp, cacheDir, pages, opts.settleMs);
          const key = `${v}/${threads}`;
          samples.set(key, [...(samples.get(key) ?? []), r.ns]);
          if (threads === 1 && r.faults !== null) faults.set(v, [...(faults.get(v) ?? []), r.faults]);
        }
      }
    }
    const hook = hookAlone(work, pfp, cacheDir, pages, trials);
    const med = (v: Variant, th: 1 | 2): number => median(samples.get(`${v}/${th}`) ?? [NaN]);
    const nsPerPage = Object.fromEntries(VARIANTS.map((v) => [v, { 1: med(v, 1), 2: med(v, 2) }])) as KernelBenchResult['nsPerPage'];
    return {
      pages,
      trials,
      nsPerPage,
      faults: Object.fromEntries(VARIANTS.map((v) => [v, faults.has(v) ? median(faults.get(v)!) : null])) as KernelBenchResult['faults'],
      ratios: {
        kernelZeroVsNative: nsPerPage['kernel-zero'][1] / nsPerPage.native[1],
        uffdCopyVsKernelCopy: nsPerPage['uffd-copy'][1] / nsPerPage['kernel-copy'][1],
        kernelZero2mVsNative: nsPerPage['kernel-zero-2m'][1] / nsPerPage.native[1],
        kernelCopy2mVsNative: nsPerPage['kernel-copy-2m'][1] / nsPerPage.native[1],
        twoThreadScaling: Object.fromEntries(VARIANTS.map((v) => [v, nsPerPage[v][1] / nsPerPage[v][2]])) as Record<Variant, number>,
      },
      hook: await hook,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function formatKernelBench(r: KernelBenchResult): string {
  const lines = [`kernel engine: ${r.pages} pages (${(r.pages * PAGE) >> 20} MiB) per touch, median of ${r.trials} trials, ns/page`];
  lines.push(`  ${'variant'.padEnd(22)} ${'1 thread'.padStart(10)} ${'2 threads'.padStart(10)} ${'2t/1t'.padStart(7)} ${'faults'.padStart(7)}`);
  for (const v of VARIANTS) {
    const n = r.nsPerPage[v];
    const f = r.faults[v] === null ? '-' : String(r.faults[v]);
    lines.push(`  ${v.padEnd(22)} ${n[1].toFixed(0).padStart(10)} ${n[2].toFixed(0).padStart(10)} ${r.ratios.twoThreadScaling[v].toFixed(2).padStart(7)} ${f.padStart(7)}`);
  }
  lines.push(`  kernel zero / native:      ${r.ratios.kernelZeroVsNative.toFixed(2)}x (target <= 1.1)`);
  lines.push(`  uffd copy / kernel copy:   ${r.ratios.uffdCopyVsKernelCopy.toFixed(2)}x (target >= 4)`);
  lines.push(`  2 MiB blocks / native:     zero ${r.ratios.kernelZero2mVsNative.toFixed(3)}x, copy ${r.ratios.kernelCopy2mVsNative.toFixed(3)}x per page (target <= 0.1)`);
  if (r.hook) {
    const h = r.hook.nsPerPage;
    lines.push(`  the hook alone (bench/kernel-hook.c, one loop, with and without the program):`);
    lines.push(`    native ${h.native[1].toFixed(0)} / ${h.native[2].toFixed(0)} ns/page (1/2 threads), hooked zero ${h.hooked[1].toFixed(0)} / ${h.hooked[2].toFixed(0)}`);
    lines.push(`    hooked zero / native: ${r.hook.zeroVsNative.toFixed(2)}x (target <= 1.1); 2t/1t throughput hooked: ${r.hook.twoThreadScaling.toFixed(2)} (target >= 1.8)`);
  }
  return lines.join('\n');
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  if (process.argv.includes('--vm')) {
    // Boot the faultc kernel and run this same file in it.
    const root = repoRoot();
    const rest = process.argv.slice(2).filter((a) => a !== '--vm');
    const self = fileURLToPath(import.meta.url);
    const cmd = self.endsWith('.ts') ? ['npx', 'vite-node', self, '--', ...rest] : ['node', self, ...rest];
    const r = spawnSync(join(root, 'kernel', 'run-in-vm.sh'), ['--mem', '3G', '--', ...cmd], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, FAULTC_BENCH_KERNEL: '1' },
    });
    process.exit(r.status ?? 125);
  }
  const pagesArg = arg('--pages');
  const trialsArg = arg('--trials');
  const settleArg = arg('--settle');
  const r = await benchKernel({
    ...(settleArg ? { settleMs: Number(settleArg) } : {}),
    ...(pagesArg ? { pages: Number(pagesArg) } : {}),
    ...(trialsArg ? { trials: Number(trialsArg) } : {}),
  });
  if (process.argv.includes('--json')) console.log(JSON.stringify(r));
  else console.log(formatKernelBench(r));
}

// Run as a program (node dist/bench/kernel.js; from source, vite-node drops the
// script from argv, so FAULTC_BENCH_KERNEL=1 says it), not when imported.
if ((process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) || process.env.FAULTC_BENCH_KERNEL === '1') {
  void main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
