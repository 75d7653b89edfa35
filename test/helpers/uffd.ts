// Shared by the uffd tests: root check, a private compile cache, child runs.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FaultEvent, Policy } from '../../runtime/index.js';
import type { UffdInstance } from '../../runtime/engines/uffd.js';

export const repoRoot = join(import.meta.dirname, '..', '..');
export const examplesDir = join(repoRoot, 'examples');
export const isRoot = process.getuid?.() === 0;

export function skipReason(file: string): boolean {
  if (!isRoot) console.warn(`${file}: skipped: needs root (userfaultfd for kernel-mode faults needs CAP_SYS_PTRACE)`);
  return !isRoot;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface ChildResult {
  signal: NodeJS.Signals | null;
  status: number | null;
  out: { ok: boolean; code?: string; message?: string; stats?: unknown } | null;
  stderr: string;
}

/** Runs test/fixtures/uffd-child.mjs (through dist/) with the given arguments. */
export function runChild(args: Record<string, unknown>, wrap: string[] = []): ChildResult {
  const script = join(repoRoot, 'test', 'fixtures', 'uffd-child.mjs');
  const cmd = [...wrap, process.execPath, script, JSON.stringify(args)];
  const r = spawnSync(cmd[0] as string, cmd.slice(1), { encoding: 'utf8', timeout: 60_000 });
  const line = r.stdout.trim().split('\n').filter(Boolean).pop();
  let out: ChildResult['out'] = null;
  if (line) {
    try {
      out = JSON.parse(line) as ChildResult['out'];
    } catch {
      out = null;
    }
  }
  return { signal: r.signal, status: r.status, out, stderr: r.stderr };
}

/**
 * Has the kernel read a page of region memory (write(2) from it into the
 * file sink, a real file: /dev/null would not read it). Returns null, or the
 * error code: a fault that fails there gives EFAULT, not a signal.
 */
export function kernelReadPage(buffer: ArrayBuffer, page: number, sink: string): string | null {
  const fd = openSync(sink, 'w');
  try {
    writeSync(fd, new Uint8Array(buffer, page * 4096, 4096));
    return null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'error';
  } finally {
    closeSync(fd);
  }
}

/**
 * Pauses the policy's handlers, lets 8 native threads fault on pages 64
 * apart of region id (all stay pending), then closes the policy. Returns the
 * pages, what the touch read (sum of each page's first byte), the events
 * delivered by then, and the region's buffer after close().
 */
export async function closeWithFaultsPending(policy: Policy, id: string): Promise<{ pages: number[]; sum: number; events: FaultEvent[]; buffer: ArrayBuffer }> {
  const events: FaultEvent[] = [];
  const region = policy.region(id);
  region.on('fault', (e) => events.push(e));
  (policy.engineInstance as UffdInstance).native.pause(true);
  const pages = Array.from({ length: 8 }, (_, i) => i * 64);
  const touching = region.touch(Uint32Array.from(pages), { threads: 8 });
  await new Promise((r) => setTimeout(r, 200)); // all 8 wait in their faults
  await policy.close();
  const { sum } = await touching;
  return { pages, sum, events, buffer: region.buffer };
}

export function countEntries(dir: string): number {
  return readdirSync(dir).length;
}
