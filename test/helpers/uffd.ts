// Shared by the uffd tests: root check, a private compile cache, child runs.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

export function countEntries(dir: string): number {
  return readdirSync(dir).length;
}
