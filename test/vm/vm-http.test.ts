// http sources on the kernel engine, under QEMU with the patched kernel: a
// copy from an http source becomes a defer to the uffd handlers (local pages
// in the kernel, remote ones in user space), with the same bytes, events and
// counters as the uffd engine. nginx (Debian's, from the host's root that the
// guest runs in) is started inside the guest on the guest's own loopback by
// test/vm-kernel/guest-http.ts: no network between guest and host.
import { copyFileSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Nginx, nginxMissing } from '../../bench/nginx.js';
import { loadPolicy } from '../../runtime/index.js';
import { ensureKernel, repoRoot } from '../setup/kernel.js';
import { outputSection, runInVm, type VmRunResult } from './harness.js';

const PAGE = 4096;
const isRoot = process.getuid?.() === 0;
const missing = nginxMissing();
const skip = !isRoot ? 'needs root (qemu, BPF and userfaultfd in the guest run as the caller)' : missing;
if (skip) console.warn(`vm-http: skipped: ${skip}`);

let work = '';
let result: VmRunResult | undefined;

interface EngineRun {
  engine: string;
  failed?: string;
  loaded: string;
  heapWrong: number[];
  askedWrong: number[];
  random4Wrong: number[];
  random4Errors: number;
  events: string[];
  heapStats: { faults: number; resolved: Record<string, number>; sigbus: number; deferred: number; errors: number };
  askedStats: { faults: number; deferred: number; sigbus: number; errors: number };
  http: { requests: number; retries: number; failures: number; bytes: number };
  gone: { code: string | null; local0: string | null; events: string[]; stats: { sigbus: number; errors: number }; http: { failures: number } };
}

function runs(): Map<string, EngineRun> {
  const lines = outputSection(result?.stdout ?? '', 'http').filter((l) => l.startsWith('HTTP '));
  return new Map(lines.map((l) => JSON.parse(l.slice(5)) as EngineRun).map((r) => [r.engine, r]));
}

beforeAll(async () => {
  if (skip) return;
  ensureKernel();
  work = realpathSync(mkdtempSync(join(tmpdir(), 'faultc-vm-http-')));
  const pfp = join(work, 'remote-hybrid.pfp');
  copyFileSync(join(repoRoot, 'test', 'vm-kernel', 'remote-hybrid.pfp'), pfp);
  writeFileSync(join(work, 'remote-local.img'), randomBytes(64 * PAGE));
  writeFileSync(join(work, 'remote.img'), randomBytes(256 * PAGE));
  // Compiled here (compiling under TCG is slow): loading needs the server's answer.
  const cacheDir = join(work, 'policies');
  const host = await Nginx.start();
  try {
    copyFileSync(join(work, 'remote.img'), join(host.www, 'remote.img'));
    const p = await loadPolicy(pfp, { engine: 'uffd', cacheDir, sources: { remote: host.url('remote.img') } });
    await p.close();
  } finally {
    await host.dispose();
  }
  const script = [
    'set -u',
    // The guest's loopback starts down; nothing else is configured.
    'ip link set lo up',
    'echo "== http =="',
    `npx vite-node "${join(repoRoot, 'test', 'vm-kernel', 'guest-http.ts')}" -- "${cacheDir}" "${pfp}" "${join(work, 'remote-local.img')}" "${join(work, 'remote.img')}"`,
    'echo "http-status=$?"',
  ];
  result = await runInVm(['sh', '-c', script.join('\n')], { cwd: repoRoot, shares: [work], timeoutSeconds: 900, mem: '2G' });
}, 1_200_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(skip !== null)('http sources on the kernel engine (guest)', () => {
  it('the guest ran both engines and its kernel logged no warning', () => {
    expect(result?.dmesgProblems ?? ['no run'], result?.stderr).toEqual([]);
    expect(result?.status, result?.stderr).toBe(0);
    expect(result?.stdout, result?.stderr).toContain('http-status=0');
    const r = runs();
    for (const engine of ['kernel', 'uffd']) {
      expect(r.get(engine)?.failed, engine).toBeUndefined();
      expect(r.get(engine)?.loaded).toBe(engine);
    }
  });

  it.each(['kernel', 'uffd'])('%s engine: every page byte for byte (local, remote, filled, deferred), in order and from 4 threads at random', (engine) => {
    const r = runs().get(engine);
    expect(r).toBeDefined();
    expect(r?.heapWrong).toEqual([]);
    expect(r?.askedWrong).toEqual([]);
    expect(r?.random4Wrong).toEqual([]);
    expect(r?.random4Errors).toBe(0);
    // In order: 128 remote pages, one GET per run of 16, after the one-byte GET of the load.
    expect(r?.http).toMatchObject({ requests: 1 + 8, retries: 0, failures: 0, bytes: 128 * PAGE });
    expect(r?.askedStats).toMatchObject({ deferred: 16, sigbus: 0, errors: 0 });
  });

  it('the kernel engine reports the same events and counters as the uffd engine', () => {
    const k = runs().get('kernel');
    const u = runs().get('uffd');
    expect(k?.events.length).toBeGreaterThan(0);
    // local: a fault per 4 pages; remote: one per 16; fill: one per page; asked: one per page.
    expect(k?.events.filter((e) => e.startsWith('heap@') && e.includes(' copy pages=16'))).toHaveLength(8);
    // Deferred pages are reported by the handler that resolved them, with their pages, as on the uffd engine.
    expect(k?.events.filter((e) => / defer pages=1 /.test(e))).toHaveLength(16);
    expect(k?.events).toEqual(u?.events);
    expect(k?.heapStats.resolved).toEqual(u?.heapStats.resolved);
    expect([k?.heapStats.faults, k?.heapStats.sigbus, k?.heapStats.errors]).toEqual([u?.heapStats.faults, u?.heapStats.sigbus, u?.heapStats.errors]);
  });

  it.each(['kernel', 'uffd'])('%s engine: the file gone from the server: EFAULT (SIGBUS) and sourceNotFound for a remote page, local pages unharmed', (engine) => {
    const g = runs().get(engine)?.gone;
    expect(g?.code).toBe('EFAULT');
    expect(g?.local0).toBeNull();
    expect(g?.events).toContain('heap@100 sigbus pages=0 error=sourceNotFound');
    expect(g?.stats).toMatchObject({ sigbus: 1, errors: 1 });
    expect(g?.http.failures).toBeGreaterThanOrEqual(1);
  });
});
