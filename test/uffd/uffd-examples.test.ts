// Every example policy on the uffd engine, with real userfaultfd and real
// files: every page that does not SIGBUS is first-touched from native threads
// and compared byte for byte with the reference evaluator + the source bytes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadPolicy } from '../../runtime/index.js';
import { comparePage, expectPage, SourceReader } from '../../runtime/run/verify-contents.js';

const root = join(import.meta.dirname, '..', '..');
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('uffd-examples: skipped: needs root (userfaultfd without UFFD_USER_MODE_ONLY)');

let cacheDir = '';
beforeAll(() => {
  execFileSync('node', [join(root, 'scripts', 'make-example-data.mjs')]);
  cacheDir = mkdtempSync(join(tmpdir(), 'faultc-uffd-ex-'));
});
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

const cases: { file: string; regions: string[]; write?: boolean }[] = [
  { file: 'snapshot-restore.pfp', regions: ['heap'] },
  { file: 'debug-guard.pfp', regions: ['arena', 'guard'] },
  { file: 'postcopy.pfp', regions: ['guest'] },
  { file: 'tiered.pfp', regions: ['heap'] },
  { file: 'tiered.pfp', regions: ['heap'], write: true },
];

describe.skipIf(!isRoot)('examples on the uffd engine, byte for byte', () => {
  for (const c of cases) {
    test(`${c.file}${c.write ? ' (write touches)' : ''}`, async () => {
      const policy = await loadPolicy(join(root, 'examples', c.file), { engine: 'uffd', cacheDir });
      const sources = new SourceReader(policy.sourcePaths);
      try {
        for (const id of c.regions) {
          const region = policy.region(id);
          const ir = policy.manifest.ir;
          const nPages = region.size / 4096;
          const expectations = Array.from({ length: nPages }, (_, p) =>
            expectPage(ir, region.index, p, region.address, c.write ?? false, sources),
          );
          const touchable = expectations.flatMap((e, p) => (e.kind === 'bytes' ? [p] : []));
          const sigbus = nPages - touchable.length;
          await region.touch(Uint32Array.from(touchable), { threads: 2, write: c.write ?? false, value: 0 });
          const mem = new Uint8Array(region.buffer);
          let mismatches = 0;
          for (const p of touchable) {
            const e = expectations[p];
            if (e?.kind !== 'bytes') continue;
            const expected = e.bytes.slice();
            // A write touch stored value 0 at the page's first byte.
            if (c.write) expected[0] = 0;
            const m = comparePage(mem, p, expected);
            if (m) {
              mismatches++;
              if (mismatches < 4) console.error(`${c.file} ${id}: page ${p} byte ${m.at}: ${m.actual} != ${m.expected}`);
            }
          }
          expect(mismatches).toBe(0);
          const st = region.stats();
          expect(st.resolved.zero + st.resolved.fill + st.resolved.copy + st.resolved.prefetch).toBe(touchable.length);
          expect(st.sigbus).toBe(0);
          if (id === 'guest') expect(sigbus).toBe(16); // the 64 KiB guard
          if (c.file === 'snapshot-restore.pfp') {
            // 64 MiB with 15 pages prefetched ahead: about one fault in 16.
            expect(st.resolved.prefetch).toBeGreaterThan(nPages / 2);
          }
          if (c.write && id === 'heap') {
            expect(region.dirtyPages()).toEqual(touchable);
          }
        }
      } finally {
        sources.close();
        await policy.close();
      }
    });
  }
});
