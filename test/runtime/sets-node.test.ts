// Run-time sets from Node: Region.addToSet/removeFromSet/inSet on the uffd
// engine (native/src/lib/sets.c, shared with libfaultc). Real userfaultfd,
// real SIGBUS: the child process that touches a page of the set dies of it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPolicy } from '../../runtime/index.js';

const root = join(import.meta.dirname, '..', '..');
const marked = join(root, 'test', 'fixtures', 'libfaultc', 'marked.pfp');
const child = join(root, 'test', 'fixtures', 'sets-child.mjs');
const cacheDir = mkdtempSync(join(tmpdir(), 'faultc-sets-node-'));

afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

describe('run-time sets from Node (uffd engine)', () => {
  it('pages put in a set get SIGBUS, the others the policy\'s fill; misuse has codes', () => {
    const r = spawnSync(process.execPath, [child, JSON.stringify({ policy: marked, cacheDir, bad: 12 })], { encoding: 'utf8', timeout: 60_000 });
    const lines = r.stdout.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    const got = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(got.has).toEqual([true, true, false, true, false]);
    expect(got.errors).toEqual(['FAULTC_SET_NOT_FOUND', 'FAULTC_SET_RANGE', 'FAULTC_BAD_ARGUMENT', 'FAULTC_SET_RANGE']);
    expect(got.values).toEqual([0x5a, 0x5a, 0x5a, 0x5a]);
    expect(got.second).toBe('FAULTC_UFFD_EBUSY');
    expect(got.stats).toEqual({ faults: 6, fill: 6, sigbus: 0 });
    expect(got.events).toBe(6);
    // Page 12 is in the set: the policy answers sigbus and the process dies of it.
    expect(r.signal).toBe('SIGBUS');
  });

  it('a closed policy gives its sets back: the next instance starts with them empty', async () => {
    const a = await loadPolicy(marked, { engine: 'uffd', cacheDir });
    const ra = a.region('r');
    ra.addToSet('bad', 5, 2);
    expect(ra.inSet('bad', 6)).toBe(true);
    await a.close();
    const b = await loadPolicy(marked, { engine: 'uffd', cacheDir });
    try {
      const rb = b.region('r');
      expect(rb.inSet('bad', 6)).toBe(false);
      rb.addToSet('unused_here', 62);
      // Page 62: in unused_here and past 60, so zeros; page 61 (not in it) gets the fill.
      const mem = new Uint8Array(rb.buffer);
      expect([mem[61 * 4096], mem[62 * 4096]]).toEqual([0x5a, 0]);
      expect(rb.stats().resolved).toMatchObject({ fill: 1, zero: 1 });
    } finally {
      await b.close();
    }
  });
});
