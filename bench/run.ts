// `npm run bench [-- --json] [-- --pages N --reps N --only uffd,trace] [-- --peers [--busy 0,2]]`
// Per-page first-touch cost of every engine in one run, as ns/page and as
// ratios to native anonymous first touch measured in the same run. Sections
// are modules bench/<name>.ts exporting either `section` (see section.ts) or
// `bench<Name>(opts)` + `format<Name>Bench(result)` (their own report, printed
// as is and kept whole in the JSON). A missing module or one that cannot run
// here is listed as skipped with its reason.
import { detectKernelEngine } from '../runtime/engines/detect.js';
import { touchAnonymous } from '../runtime/engines/uffd.js';
import { packageRoot } from '../runtime/engines/native.js';
import { median, type Access, type BenchContext, type BenchRow, type BenchSection } from './section.js';

/** Sections in the order they run; each is ./<name>.js. */
const SECTIONS = ['uffd', 'trace', 'kernel', 'compiler', 'http', 'guard', 'criu'];
/** Sections that run only when asked for (`--peers`, or by name in --only): they build peers and take minutes. */
const ON_REQUEST = ['peers'];

interface Args {
  json: boolean;
  pages: number;
  reps: number;
  only: string[] | null;
  peers: boolean;
  /** peers: busy loops beside each pass (default 0 then 2). */
  busy: number[] | null;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { json: false, pages: 16384, reps: 9, only: null, peers: false, busy: null };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    const next = () => {
      const n = argv[++i];
      if (n === undefined) throw new Error(`${v} needs a value`);
      return n;
    };
    if (v === '--json') a.json = true;
    else if (v === '--pages') a.pages = Number(next());
    else if (v === '--reps') a.reps = Number(next());
    else if (v === '--only') a.only = next().split(',');
    else if (v === '--peers') a.peers = true;
    else if (v === '--busy') a.busy = next().split(',').map(Number);
    else throw new Error(`unknown argument ${v} (--json, --pages N, --reps N, --only a,b, --peers, --busy 0,2)`);
  }
  if (!Number.isInteger(a.pages) || a.pages < 16 || !Number.isInteger(a.reps) || a.reps < 1) throw new Error('--pages >= 16 and --reps >= 1');
  if (a.busy && !a.busy.every((n) => Number.isInteger(n) && n >= 0 && n <= 16)) throw new Error('--busy takes counts of busy loops, 0..16, comma-separated');
  return a;
}

/** A module with its own runner and report (bench/trace.ts, bench/kernel.ts). */
/** What run.ts passes to a self-reporting section's bench<Name>(). */
interface OwnOptions {
  pages: number;
  busy?: number[];
}

interface OwnReport {
  name: string;
  run(o: OwnOptions): Promise<unknown>;
  format(result: unknown): string;
  /** The section's own reason not to run here (`unavailable<Name>()`), or null. */
  unavailable?: () => string | null;
}

/** Why a self-reporting section cannot run here, or null. */
async function ownUnavailable(name: string, own: OwnReport): Promise<string | null> {
  const why = own.unavailable?.();
  if (why) return why;
  if (name === 'compiler') return null;
  if (process.getuid?.() !== 0) return 'needs root';
  if (name === 'kernel' && !(await detectKernelEngine())) {
    return 'needs the faultc kernel (kernel/): run `node dist/bench/kernel.js --vm`';
  }
  return null;
}

async function loadSection(name: string): Promise<BenchSection | OwnReport | string> {
  let m: Record<string, unknown>;
  try {
    m = (await import(`./${name}.js`)) as Record<string, unknown>;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(`${name}.js`)) return `bench/${name}.ts is not part of this build`;
    throw e;
  }
  if (m.section) return m.section as BenchSection;
  const cap = name[0]?.toUpperCase() + name.slice(1);
  const run = m[`bench${cap}`];
  const format = m[`format${cap}Bench`];
  const unavailable = m[`unavailable${cap}`];
  if (typeof run === 'function' && typeof format === 'function') {
    return {
      name,
      ...(typeof unavailable === 'function' ? { unavailable: unavailable as () => string | null } : {}),
      run: (o: OwnOptions) => (run as (o: OwnOptions) => Promise<unknown>)(o),
      format: (r: unknown) => (format as (r: unknown) => string)(r),
    };
  }
  return `bench/${name} exports neither section nor bench${cap}/format${cap}Bench`;
}

function isSection(s: BenchSection | OwnReport): s is BenchSection {
  // An own report may have `unavailable` too (peers): `format` tells them apart.
  return !('format' in s);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = (line: string) => {
    if (!args.json) process.stderr.write(line + '\n');
  };

  // The baseline: native anonymous first touch, same threads and access, same run.
  const base = new Map<string, number>();
  for (const threads of [1, 2]) {
    for (const access of ['write', 'read'] as Access[]) {
      const samples: number[] = [];
      for (let r = 0; r < args.reps; r++) samples.push((await touchAnonymous(args.pages, threads, access === 'write')).ns / args.pages);
      base.set(`${threads}/${access}`, median(samples));
    }
  }
  const ctx: BenchContext = {
    pages: args.pages,
    reps: args.reps,
    root: packageRoot,
    log,
    baseline(threads, access) {
      const v = base.get(`${threads}/${access}`);
      if (v === undefined) throw new Error(`no baseline for ${threads} threads, ${access}`);
      return v;
    },
  };
  const rows: BenchRow[] = [];
  for (const threads of [1, 2]) {
    for (const access of ['write', 'read'] as Access[]) {
      const ns = ctx.baseline(threads, access);
      rows.push({ section: 'native', name: `native anonymous first touch (${access === 'write' ? 'zero fill' : 'zero page'})`, threads, access, nsPerPage: ns, ratio: ns / ctx.baseline(threads, 'write') });
    }
  }
  const skipped: { section: string; reason: string }[] = [];
  const reports: { section: string; text: string; result: unknown }[] = [];
  for (const name of [...SECTIONS, ...ON_REQUEST]) {
    if (ON_REQUEST.includes(name) ? !(args.peers || args.only?.includes(name)) : args.only && !args.only.includes(name)) continue;
    const s = await loadSection(name);
    if (typeof s === 'string') {
      skipped.push({ section: name, reason: s });
      continue;
    }
    const why = isSection(s) ? await s.unavailable() : await ownUnavailable(name, s);
    if (why) {
      skipped.push({ section: name, reason: why });
      continue;
    }
    log(`bench: ${name}`);
    if (isSection(s)) {
      rows.push(...(await s.run(ctx)));
    } else {
      const result = await s.run({ pages: args.pages, ...(args.busy ? { busy: args.busy } : {}) });
      reports.push({ section: name, text: s.format(result), result });
    }
  }

  if (args.json) {
    const sections = Object.fromEntries(reports.map((r) => [r.section, r.result]));
    const json = JSON.stringify({ pages: args.pages, reps: args.reps, pageSize: 4096, rows, sections, skipped }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
    process.stdout.write(json + '\n');
    return;
  }
  const out: string[] = [];
  out.push(`first touch of ${args.pages} pages, median of ${args.reps}; ratio = ns/page over native anonymous write first touch, same threads, same run`);
  out.push('');
  const w = Math.max(...rows.map((r) => r.name.length), 10);
  out.push(`${'case'.padEnd(w)}  thr  access  ns/page     ratio  target`);
  for (const r of rows) {
    const target = r.target ? `<= ${r.target.maxRatio}x ${r.target.met ? 'met' : 'MISSED'}` : '';
    out.push(`${r.name.padEnd(w)}  ${String(r.threads).padStart(3)}  ${r.access.padEnd(6)}  ${r.nsPerPage.toFixed(0).padStart(7)}  ${r.ratio.toFixed(2).padStart(7)}x  ${target}`);
  }
  for (const r of reports) out.push('', `-- ${r.section} --`, r.text);
  for (const s of skipped) out.push(`skipped ${s.section}: ${s.reason}`);
  process.stdout.write(out.join('\n') + '\n');
}

await main();
