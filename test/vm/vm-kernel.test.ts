// The kernel engine on the patched kernel, under QEMU. One guest boot runs:
//   1. test/vm-kernel/hook_test.c with a hand-written fault program: every
//      action, SIGBUS cases, events, prefetch, threads, fork, munmap, mprotect,
//      mremap, detach, userfaultfd defer, pages installed write-protected
//      for a userfaultfd, attaching to another process, privilege, program
//      lifetime;
//   2. test/vm-kernel/fault_run.c over generated programs, page by page with
//      SIGBUS caught: SIGBUS pages and error events of the examples and of
//      test/vm-kernel/errors.pfp (division by zero, past the end, a source
//      truncated after attach) and of test/vm-kernel/writes.pfp (writes
//      refused by `on write` rules), checked against the reference evaluator;
//   3. test/vm-kernel/guest-engines.ts: every example policy (and block.pfp,
//      an aligned-block prefetch, and huge.pfp, 2 MiB blocks as PMD-mapped
//      huge pages) through the runtime on the kernel engine
//      and on the uffd engine: pages byte for byte against the evaluator, and
//      the same events, counters and dirty pages on both;
//   4. test/vm-kernel/guest-attach.ts: Policy.attachProcess() on a child's
//      memory (test/vm-kernel/remote_child.c): its pages and its events; and
//      zeroCopy: false (anonymous copies instead of the source's pages).
// The guest kernel's log must stay free of warnings throughout.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFile } from '../../codegen/build.js';
import { bpfIncludeFlags } from '../../codegen/clang.js';
import { ACTION_CODES, ERROR_CODES } from '../../abi/abi.js';
import type { PolicyIR } from '../../compiler/ir.js';
import { loadPolicy } from '../../runtime/index.js';
import { expectPage, expectWrite, PAGE, SourceReader } from '../../runtime/run/verify-contents.js';
import { ensureKernel, repoRoot } from '../setup/kernel.js';
import { outputSection, runInVm, type VmRunResult } from './harness.js';
import { subskeletonDir } from '../helpers/native-build.js';

const here = join(repoRoot, 'test', 'vm-kernel');
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('vm-kernel: skipped: needs root (qemu, BPF and userfaultfd in the guest run as the caller)');

let work = '';
let result: VmRunResult | undefined;

/** A generated program run page by page in the guest (fault_run.c). */
interface RunSpec {
  name: string;
  pfp: string;
  policy: string;
  region: number;
  first: number;
  count: number;
  write?: boolean;
  /** Truncate this source (index) to this many bytes after attach. */
  truncate?: { source: number; bytes: number };
  /** The region's `on write` rules run (writes go to the decision library's handler). */
  onWrite?: boolean;
  /** The region is a child process's memory, attached from fault_run (fk_engine_attach_process). */
  remote?: boolean;
}

const runs: RunSpec[] = [
  { name: 'guard', pfp: 'examples/debug-guard.pfp', policy: 'debug_guard', region: 1, first: 0, count: 1 },
  { name: 'arena', pfp: 'examples/debug-guard.pfp', policy: 'debug_guard', region: 0, first: 0, count: 64, write: true },
  { name: 'postcopy', pfp: 'examples/postcopy.pfp', policy: 'postcopy', region: 0, first: 0, count: 80 },
  { name: 'snapshot', pfp: 'examples/snapshot-restore.pfp', policy: 'snapshot_restore', region: 0, first: 0, count: 64 },
  { name: 'tiered', pfp: 'examples/tiered.pfp', policy: 'tiered', region: 0, first: 250, count: 12, write: true },
  { name: 'errors', pfp: 'errors.pfp', policy: 'errors', region: 0, first: 0, count: 16 },
  { name: 'truncated', pfp: 'errors.pfp', policy: 'errors', region: 0, first: 0, count: 16, truncate: { source: 0, bytes: 4096 } },
  { name: 'writes', pfp: 'writes.pfp', policy: 'writes', region: 0, first: 0, count: 64, write: true, onWrite: true },
  { name: 'remote', pfp: 'examples/snapshot-restore.pfp', policy: 'snapshot_restore', region: 0, first: 0, count: 64, remote: true },
];

const hybridPfp = join(here, 'hybrid.pfp');
const writesPfp = join(here, 'writes.pfp');
const blockPfp = join(here, 'block.pfp');
const hugePfp = join(here, 'huge.pfp');
/** Pages the other process reads after Policy.attachProcess (guest-attach.ts). */
const ATTACH_PAGES = 64;
const engineCases = ['debug-guard.pfp', 'snapshot-restore.pfp', 'postcopy.pfp', 'tiered.pfp', 'tiered.pfp:write', hybridPfp, `${writesPfp}:write`, blockPfp, hugePfp];

/** The addon's C files (native/binding.gyp): fault_run links the engines as the addon does. */
function nativeCSources(): string[] {
  const gyp = JSON.parse(readFileSync(join(repoRoot, 'native', 'binding.gyp'), 'utf8')) as { targets: { target_name: string; sources?: string[] }[] };
  return (gyp.targets.find((t) => t.target_name === 'faultc_native')?.sources ?? []).filter((f) => f.endsWith('.c')).map((f) => join(repoRoot, 'native', f));
}

interface Compiled {
  ir: PolicyIR;
  object: string;
  sources: string[];
  nRegions: number;
  decide: string;
}

function regionOf(c: Compiled, index: number): { size: bigint; at: bigint } {
  const r = c.ir.regions[index];
  if (!r) throw new Error(`no region ${index}`);
  return { size: r.size, at: r.at ?? 0n };
}
const compiled = new Map<string, Compiled>();

function section(name: string): string[] {
  return outputSection(result?.stdout ?? '', name);
}

function tapLines(name: string): { ok: boolean; text: string }[] {
  return section(name)
    .map((l) => /^(ok|not ok) \d+ - (.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ ok: m[1] === 'ok', text: m[2] ?? '' }));
}

function fnv1a(bytes: Uint8Array): string {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

async function compileRun(spec: RunSpec): Promise<Compiled> {
  const key = `${spec.pfp}#${spec.policy}`;
  const have = compiled.get(key);
  if (have) return have;
  const src = spec.pfp.startsWith('examples/') ? join(repoRoot, spec.pfp) : join(work, spec.pfp);
  const outDir = join(work, 'out', spec.policy);
  mkdirSync(outDir, { recursive: true });
  const res = await compileFile(src, { outDir, emit: ['obj', 'json'], policy: spec.policy });
  if (!res.ok) throw new Error(`${spec.pfp} does not compile: ${JSON.stringify(res.diagnostics)}`);
  const p = await loadPolicy(join(outDir, `${spec.policy}.policy.json`), { engine: 'uffd' });
  const ir = p.manifest.ir;
  const c: Compiled = {
    ir,
    object: join(outDir, `${spec.policy}.fault.bpf.o`),
    sources: p.sourcePaths,
    nRegions: ir.regions.length,
    decide: join(outDir, `${spec.policy}.decide.so`),
  };
  await p.close();
  compiled.set(key, c);
  return c;
}

beforeAll(async () => {
  if (!isRoot) return;
  ensureKernel();
  execFileSync('node', [join(repoRoot, 'scripts', 'make-example-data.mjs')]);
  work = realpathSync(mkdtempSync(join(tmpdir(), 'faultc-vm-kernel-')));
  const inc = ['-I', join(repoRoot, 'native', 'include')];
  execFileSync('clang', ['-O2', '-g', '-target', 'bpf', ...bpfIncludeFlags(), ...inc, '-c', join(here, 'hook.bpf.c'), '-o', join(work, 'hook.bpf.o')]);
  execFileSync('gcc', ['-O2', '-g', '-Wall', ...inc, '-o', join(work, 'hook_test'), join(here, 'hook_test.c'), '-lbpf', '-lpthread']);
  execFileSync('gcc', ['-O2', '-g', '-Wall', '-o', join(work, 'remote_child'), join(here, 'remote_child.c')]);
  execFileSync('gcc', [
    '-O2', '-g', '-Wall', ...inc, '-I', subskeletonDir(), '-o', join(work, 'fault_run'), join(here, 'fault_run.c'), ...nativeCSources(),
    '-lbpf', '-lelf', '-lz', '-ldl', '-lpthread', '-lcurl',
  ]);
  // The error policy's source: 3 pages and 100 bytes.
  copyFileSync(join(here, 'errors.pfp'), join(work, 'errors.pfp'));
  copyFileSync(writesPfp, join(work, 'writes.pfp'));
  const img = Buffer.alloc(3 * PAGE + 100);
  for (let i = 0; i < img.length; i++) img[i] = (i * 7 + Math.floor(i / PAGE) + 1) & 0xff;
  writeFileSync(join(work, 'errors.img'), img);
  writeFileSync(join(work, 'errors-truncated.img'), img);

  const lines = ['set -u', 'echo "== hook =="', `"${work}/hook_test" "${work}/hook.bpf.o" "${work}"`, 'echo "hook-status=$?"'];
  for (const spec of runs) {
    const c = await compileRun(spec);
    // The truncation run gets its own copy of the source, cut in the guest.
    const sources = spec.truncate ? c.sources.map((s, i) => (i === spec.truncate?.source ? join(work, 'errors-truncated.img') : s)) : c.sources;
    let env = spec.truncate ? `FAULT_RUN_TRUNCATE='${sources[spec.truncate.source]}:${spec.truncate.bytes}' ` : '';
    if (spec.onWrite) env += `FAULT_RUN_DECIDE='${c.decide}' `;
    if (spec.remote) env += 'FAULT_RUN_REMOTE=1 ';
    lines.push(
      `echo "== run ${spec.name} =="`,
      `${env}"${work}/fault_run" "${work}/${spec.name}.run" "${c.object}" ${c.nRegions} ${spec.region} ${regionOf(c, spec.region).size} ${regionOf(c, spec.region).at} ${spec.write ? 1 : 0} ${spec.first} ${spec.count} ${sources.map((s) => `"${s}"`).join(' ')}`,
      'echo "run-status=$?"',
    );
  }
  // The runtime in the guest finds these policies compiled already (compiling under TCG is slow).
  const cacheDir = join(work, 'policies');
  for (const f of new Set(engineCases.map((c) => c.split(':')[0] ?? ''))) {
    const p = await loadPolicy(f.startsWith('/') ? f : join(repoRoot, 'examples', f), { engine: 'uffd', cacheDir });
    await p.close();
  }
  lines.push('echo "== engines =="', `npx vite-node "${here}/guest-engines.ts" -- "${cacheDir}" ${engineCases.join(' ')}`, 'echo "engines-status=$?"');
  lines.push('echo "== attach =="', `npx vite-node "${here}/guest-attach.ts" -- "${cacheDir}" "${work}/remote_child" ${ATTACH_PAGES}`, 'echo "attach-status=$?"');
  result = await runInVm(['sh', '-c', lines.join('\n')], { cwd: repoRoot, shares: [work], timeoutSeconds: 1500, mem: '3G', allowWarnings: true });
}, 2_400_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!isRoot)('kernel fault hook (guest)', () => {
  it('the guest ran every part and its kernel logged no warning', () => {
    expect(result, 'no guest run').toBeDefined();
    expect(result?.dmesgProblems ?? ['no run'], result?.stderr).toEqual([]);
    expect(result?.status, result?.stderr).toBe(0);
    expect(result?.stdout).toContain('hook-status=0');
    expect(result?.stdout).toContain('engines-status=0');
    expect(result?.stdout).toContain('attach-status=0');
    expect(result?.stdout.match(/run-status=0/g)?.length, result?.stderr).toBe(runs.length);
  });

  it('hook_test: every check passes', () => {
    const lines = tapLines('hook');
    expect(lines.length, result?.stdout).toBeGreaterThan(40);
    expect(lines.filter((l) => !l.ok).map((l) => l.text)).toEqual([]);
  });

  const expectCheck = (pattern: RegExp): void => {
    const hit = tapLines('hook').filter((l) => pattern.test(l.text));
    expect(hit.length, `no check matching ${String(pattern)}`).toBeGreaterThan(0);
    expect(hit.every((l) => l.ok)).toBe(true);
  };
  it('hook: SIGBUS for sigbus decisions, copies past the end and malformed decisions', () => {
    expectCheck(/sigbus decision raises SIGBUS/);
    expectCheck(/copy wholly past the source's end raises SIGBUS/);
    expectCheck(/fill byte 300 is refused/);
    expectCheck(/program-reported error raises SIGBUS/);
  });
  it('hook: threads, fork, munmap, mremap and mprotect keep pages and offsets right', () => {
    expectCheck(/4 threads faulting at once/);
    expectCheck(/fork: the child's missing pages run the same program/);
    expectCheck(/munmap in the middle/);
    expectCheck(/mremap move/);
    expectCheck(/mprotect split/);
  });
  it('hook: hybrid with userfaultfd, privilege, lifetime', () => {
    expectCheck(/hybrid: even pages filled in the kernel/);
    expectCheck(/write-protected: one write fault per first write/);
    expectCheck(/without CAP_BPF attach is EPERM/);
    expectCheck(/program is released/);
  });
  it('hook: zero-copy in a private mapping of the source (prefetched neighbours too), other decisions there, no fault-around', () => {
    expectCheck(/zero-copy: the copy of the file's own page is the page-cache page/);
    expectCheck(/zero-copy: no fault-around/);
    expectCheck(/zero-copy: a write copies the page, the file keeps its bytes/);
    expectCheck(/zero-copy: a first write gets a private copy/);
    expectCheck(/zero-copy: prefetched neighbours are the page-cache pages/);
    expectCheck(/zero-copy: the event counts the 5 pages resolved/);
    expectCheck(/zero-copy: a write to a prefetched neighbour copies it, the file keeps its bytes/);
    expectCheck(/zero-copy: other decisions there install the program's pages/);
    expectCheck(/attach to a shared mapping of a file that is not shmem is EINVAL/);
  });
  it('hook: shared memory (memfd, shared anonymous): decided pages join the object', () => {
    expectCheck(/shmem: zero, fill, copy \(written\) and SIGBUS as decided/);
    expectCheck(/shmem: the decided pages are the object's/);
    expectCheck(/shmem: a page the object held already is not decided again/);
    expectCheck(/shmem: writes are shared/);
    expectCheck(/shmem: shared anonymous memory too/);
  });
  it("hook: attaching to another process's memory through a pidfd, and who may", () => {
    expectCheck(/remote: attach to a child's range through its pidfd/);
    expectCheck(/remote: the caller's own range at that address stays unattached/);
    expectCheck(/remote: the child's faults ran the program/);
    expectCheck(/remote: a process that is gone is ESRCH/);
    expectCheck(/remote: a process the caller may not ptrace is EPERM/);
  });

  it("runtime: Policy.attachProcess resolves another process's faults, byte for byte, with its events", () => {
    const line = section('attach').find((l) => l.startsWith('{'));
    expect(line, section('attach').join('\n')).toBeDefined();
    const r = JSON.parse(line ?? '{}') as {
      pages: number; mismatches: number; firstMismatch?: string; events: string[]; eventPids: number[]; childPid: number; childStatus: number;
      anon: { mapped: string; mismatches: number };
    };
    expect(r.childStatus).toBe(0);
    expect(r.pages).toBe(ATTACH_PAGES);
    expect(r.mismatches, r.firstMismatch).toBe(0);
    // snapshot-restore: copy + prefetch 15 + notify, read in order: one fault per 16 pages.
    expect(r.events).toEqual(Array.from({ length: ATTACH_PAGES / 16 }, (_, i) => `heap:${i * 16 * PAGE}:copy:16`));
    expect(r.eventPids).toEqual([r.childPid]);
    // zeroCopy: false: the same region is anonymous memory holding copies.
    expect(r.anon).toEqual({ mapped: '', mismatches: 0 });
  });

  for (const spec of runs) {
    it(`generated program, ${spec.name}: every page as the evaluator says, SIGBUS included, and its events`, async () => {
      const c = await compileRun(spec);
      const file = join(work, `${spec.name}.run`);
      expect(existsSync(file), section(`run ${spec.name}`).join('\n')).toBe(true);
      const text = readFileSync(file, 'utf8');
      const pages = new Map<number, string>();
      const events: { offset: bigint; action: number; pages: number; error: number; write: number; self: boolean; addrOk: boolean }[] = [];
      for (const line of text.split('\n')) {
        const f = line.split(' ');
        if (f[0] === 'P') pages.set(Number(f[1]), f[2] === 'bus' ? 'bus' : (f[3] ?? ''));
        if (f[0] === 'E')
          events.push({ offset: BigInt(f[1] ?? 0), action: Number(f[2]), pages: Number(f[3]), error: Number(f[4]), write: Number(f[5]), self: f[6] === '1', addrOk: f[7] === '1' });
      }
      expect(pages.size).toBe(spec.count);
      // The evaluator's opinion, with the source as the program saw it (truncated for that run).
      const sources = new SourceReader(c.sources);
      const truncated = spec.truncate;
      try {
        for (let p = spec.first; p < spec.first + spec.count; p++) {
          const e = expectPage(c.ir, spec.region, p, regionOf(c, spec.region).at, spec.write ?? false, sources);
          let want = e.kind === 'sigbus' ? 'bus' : fnv1a(e.bytes);
          // A write refused by its `on write` rule: SIGBUS, the page stays as it was.
          if (spec.onWrite && e.kind === 'bytes' && expectWrite(c.ir, spec.region, p, regionOf(c, spec.region).at, sources).action === 'sigbus') want = 'bus';
          if (truncated && e.kind === 'bytes' && e.evaluation.action === 'copy') {
            const at = e.evaluation.sourceOffset ?? 0n;
            if (at >= BigInt(truncated.bytes)) want = 'bus';
            else {
              const b = e.bytes.slice();
              b.fill(0, Math.max(0, truncated.bytes - Number(at)));
              want = fnv1a(b);
            }
          }
          expect(pages.get(p), `page ${p}`).toBe(want);
        }
      } finally {
        sources.close();
      }
      // Events: on the faulting thread, at the right address; SIGBUS pages that notify carry it.
      for (const e of events) {
        expect(e.self && e.addrOk).toBe(true);
        const p = Number(e.offset / BigInt(PAGE));
        expect(e.action === ACTION_CODES.sigbus).toBe(pages.get(p) === 'bus');
      }
      if (spec.name === 'guard') expect(events.map((e) => [e.action, e.error])).toEqual([[ACTION_CODES.sigbus, 0]]);
      if (spec.name === 'errors' || spec.name === 'truncated') {
        const byPage = new Map(events.map((e) => [Number(e.offset / BigInt(PAGE)), e]));
        expect(byPage.get(1)?.error).toBe(ERROR_CODES.divideByZero);
        for (const p of [4, 5, 6, 7]) expect(byPage.get(p)?.error, `page ${p}`).toBe(ERROR_CODES.pastEndOfSource);
        if (spec.name === 'truncated') for (const p of [2, 3]) expect(byPage.get(p)?.error, `page ${p}`).toBe(ERROR_CODES.pastEndOfSource);
        else expect(byPage.get(3)?.action).toBe(ACTION_CODES.copy);
      }
      if (spec.name === 'writes') {
        // Pages 0-3 refuse writes (notify + sigbus), 4-15 notify tracked writes, 32-63 notify missing zeros.
        const got = events.map((e) => `${Number(e.offset / BigInt(PAGE))}:${e.action}`).sort();
        const want = [
          ...[0, 1, 2, 3].map((p) => `${p}:${ACTION_CODES.sigbus}`),
          ...Array.from({ length: 12 }, (_, i) => `${i + 4}:${ACTION_CODES.none}`),
          ...Array.from({ length: 32 }, (_, i) => `${i + 32}:${ACTION_CODES.zero}`),
        ].sort();
        expect(got).toEqual(want);
      }
      if (spec.name === 'snapshot' || spec.name === 'remote') {
        // 15 pages ahead: 64 pages fault 4 times, each event counting 16 pages.
        expect(events.map((e) => [Number(e.offset / BigInt(PAGE)), e.pages])).toEqual([[0, 16], [16, 16], [32, 16], [48, 16]]);
      }
    });
  }

  interface EngineRow {
    case: string;
    engine: string;
    threads: number;
    region: string;
    touched: number;
    mismatches: number;
    firstMismatch?: string;
    events: string[];
    stats: { faults: number; resolved: Record<string, number>; writeFaults: number; sigbus: number };
    dirty?: { first: string; second: string; expected: string };
    firstWrites?: number;
    mapped: string;
    anonHugeKb: number;
    sourcesOnTmpfs: boolean;
    failed?: string;
  }
  const rows = (): EngineRow[] =>
    section('engines')
      .filter((l) => l.startsWith('ENGINES '))
      .map((l) => JSON.parse(l.slice('ENGINES '.length)) as EngineRow);

  for (const c of engineCases) {
    const hybrid = c === hybridPfp;
    it(`runtime, ${hybrid ? 'hybrid.pfp (defer)' : c}: byte for byte on the kernel engine (1 and 2 threads), same events and counters as the uffd engine`, () => {
      const mine = rows().filter((r) => r.case === c);
      expect(mine.filter((r) => r.failed).map((r) => r.failed)).toEqual([]);
      const kernel1 = mine.filter((r) => r.engine === 'kernel' && r.threads === 1);
      const kernel2 = mine.filter((r) => r.engine === 'kernel' && r.threads === 2);
      const uffd = mine.filter((r) => r.engine === 'uffd');
      expect(kernel1.length).toBeGreaterThan(0);
      expect(kernel2.length).toBe(kernel1.length);
      expect(uffd.length).toBe(kernel1.length);
      for (const r of [...kernel1, ...kernel2, ...uffd]) expect(r.mismatches, `${r.engine}/${r.threads} ${r.region}: ${r.firstMismatch ?? ''}`).toBe(0);
      // Zero-copy: a region whose rule is one `copy image at offset` is mapped from the source itself.
      const zeroCopy = c === 'snapshot-restore.pfp';
      for (const r of [...kernel1, ...kernel2]) expect(r.mapped.endsWith('/heap.img'), `${r.region}: ${r.mapped}`).toBe(zeroCopy);
      // The uffd engine does so for a source on tmpfs (the guest's /tmp is one).
      if (zeroCopy) expect(uffd.every((r) => r.sourcesOnTmpfs)).toBe(true);
      for (const r of uffd) expect(r.mapped.endsWith('/heap.img'), `${r.region}: ${r.mapped}`).toBe(zeroCopy && r.sourcesOnTmpfs);
      if (c === hugePfp) {
        // 2 MiB blocks: on the kernel engine each is one PMD-mapped huge page
        // decided at one fault (the uffd engine fills it in batches of 256
        // pages, so its events and counters differ; its bytes do not).
        for (const k of [...kernel1, ...kernel2]) expect(k.anonHugeKb, `${k.engine}/${k.threads}`).toBe(4096);
        for (const k of kernel1) {
          expect(k.events.length, k.events.join('\n')).toBe(2);
          for (const e of k.events) expect(e).toMatch(/ pages=512 error=-$/);
        }
        return;
      }
      for (const k of kernel1) {
        const u = uffd.find((r) => r.region === k.region);
        // A deferred page is reported by the user-space handler that
        // resolved it (its pages), on both engines.
        expect(k.events).toEqual(u?.events);
        if (hybrid) expect(k.events.filter((e) => / defer /.test(e)).length).toBe(32);
        // One fault per aligned 64 KiB block: 32 whole blocks and the cut one.
        if (c === blockPfp) expect(k.events.length).toBe(33);
        expect(k.stats.resolved).toEqual(u?.stats.resolved);
        expect(k.stats.sigbus).toBe(u?.stats.sigbus);
        if (c.endsWith(':write')) {
          // The same dirty pages on both engines, and the ones the evaluator says.
          expect(k.dirty?.first).toBe(k.dirty?.expected);
          expect(k.dirty).toEqual(u?.dirty);
          expect(kernel2.find((r) => r.region === k.region)?.dirty).toEqual(u?.dirty);
          // Every first write reached the rules. userfaultfd may hand the
          // handler one write fault twice (the thread faulted again before
          // the page was unprotected), on either engine: at least once each.
          expect(k.firstWrites).toBeGreaterThan(0);
          expect(k.stats.writeFaults).toBeGreaterThanOrEqual(k.firstWrites ?? Infinity);
          expect(u?.stats.writeFaults).toBeGreaterThanOrEqual(k.firstWrites ?? Infinity);
        } else {
          // uffd counts a write-protect fault as a fault too; the kernel engine counts the hook's.
          expect(k.stats.faults).toBe(u?.stats.faults);
          expect([k.stats.writeFaults, u?.stats.writeFaults]).toEqual([0, 0]);
        }
      }
    });
  }
});
