// `prefetch block <size>`: the naturally aligned block that holds the faulting
// page, in the language (parse, check, IR, explain) and on the uffd engine with
// real userfaultfd: a random reader faults once per block, and every byte is
// the source's.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkSource } from '../../compiler/index.js';
import { loadPolicy } from '../../runtime/index.js';
import { PREFETCH_DIR_CODES } from '../../abi/abi.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'runtime', 'cli.js');
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('prefetch-block: uffd engine part skipped: needs root (userfaultfd without UFFD_USER_MODE_ONLY)');

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'faultc-block-'));
  // 2 MiB + 5 pages: the last block is cut by the region's end.
  const bytes = Buffer.alloc((512 + 5) * 4096);
  for (let off = 0; off < bytes.length; off += 4) bytes.writeUInt32LE((off * 2654435761) >>> 0, off);
  writeFileSync(join(dir, 'img'), bytes);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function policy(prefetch: string, size = '517 pages'): string {
  return `policy b {\n  source img = file "img"\n  region r size ${size} {\n    on missing { copy img at offset ${prefetch} }\n  }\n}\n`;
}

function prefetchOf(text: string): unknown {
  const r = checkSource(text, 'b.pfp');
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const stmts = r.ok ? (r.value.policies[0]?.regions[0]?.onMissing ?? []) : [];
  const p = stmts.find((s) => s.kind === 'prefetch');
  return p && p.kind === 'prefetch' ? [p.pages, p.direction] : undefined;
}

describe('prefetch block in the language', () => {
  test('sizes in KiB, MiB and pages become a block of pages', () => {
    expect(prefetchOf(policy('prefetch block 64 KiB'))).toEqual([16, 'block']);
    expect(prefetchOf(policy('prefetch block 2 MiB'))).toEqual([512, 'block']);
    expect(prefetchOf(policy('prefetch block 8 pages'))).toEqual([8, 'block']);
  });

  test.each([
    ['12 KiB', 'not a power of two'],
    ['4 KiB', 'one page'],
    ['4 MiB', 'above 2 MiB'],
    ['6 pages', 'not a power of two'],
  ])('prefetch block %s is refused with PFP4040 (%s)', (size) => {
    const r = checkSource(policy(`prefetch block ${size}`), 'b.pfp');
    const errors = r.diagnostics.filter((d) => d.severity === 'error');
    expect(errors.map((d) => d.code)).toEqual(['PFP4040']);
    expect(errors[0]?.span.startLine).toBe(4);
    expect(errors[0]?.span.startColumn).toBe(46);
  });

  test('a unit that is not a size of memory is a syntax error', () => {
    const r = checkSource(policy('prefetch block 64'), 'b.pfp');
    expect(r.diagnostics.some((d) => d.severity === 'error')).toBe(true);
  });

  test('explain names the block', () => {
    const file = join(dir, 'explain.pfp');
    writeFileSync(file, policy('prefetch block 64 KiB'));
    const out = execFileSync('node', [cli, 'explain', file, '--region', 'r', '--offset', '0x5000'], { encoding: 'utf8' });
    expect(out).toContain('prefetch: the aligned block of 16 pages (64 KiB) that holds the page');
  });
});

describe('prefetch block and the kernel engine', () => {
  test('the policy lists every engine', () => {
    const r = checkSource(policy('prefetch block 64 KiB'), 'b.pfp');
    expect(r.ok && r.value.policies[0]?.engines).toEqual(['kernel', 'uffd', 'trace']);
  });

  test("the hook's block direction is faultc's code, in the series and in the runtime's copy of its uapi", () => {
    // The fault program passes prefetch_dir through as it is (codegen/fault-bpf.ts).
    const patches = join(root, 'kernel', 'patches');
    const series = readdirSync(patches).map((f) => readFileSync(join(patches, f), 'utf8')).join('\n');
    const inPatch = [...series.matchAll(/^\+\tBPF_PAGE_FAULT_BLOCK\t= (\d+),/gm)].map((m) => Number(m[1]));
    // include/uapi/linux/bpf.h and its tools/ copy
    expect(inPatch).toEqual([PREFETCH_DIR_CODES.block, PREFETCH_DIR_CODES.block]);
    const uapi = readFileSync(join(root, 'native', 'include', 'fault_policy_uapi.h'), 'utf8');
    expect(/^\tBPF_PAGE_FAULT_BLOCK\t= (\d+),/m.exec(uapi)?.[1]).toBe(String(PREFETCH_DIR_CODES.block));
  });

  test('other prefetch keeps every engine', () => {
    const r = checkSource(policy('prefetch 16 pages around'), 'b.pfp');
    expect(r.ok && r.value.policies[0]?.engines).toEqual(['kernel', 'uffd', 'trace']);
  });
});

describe.skipIf(!isRoot)('prefetch block on the uffd engine', () => {
  const image = () => readFileSync(join(dir, 'img'));

  async function touchAll(text: string, order: Uint32Array, threads: number) {
    const file = join(dir, `p${Math.random().toString(36).slice(2)}.pfp`);
    writeFileSync(file, text);
    const p = await loadPolicy(file, { engine: 'uffd', cacheDir: dir });
    try {
      const r = p.region('r');
      await r.touch(order, { threads, write: false, value: 0 });
      const mem = Buffer.from(new Uint8Array(r.buffer));
      return { stats: r.stats(), equal: mem.equals(image()) };
    } finally {
      await p.close();
    }
  }

  function shuffled(n: number): Uint32Array {
    const a = Uint32Array.from({ length: n }, (_, i) => i);
    let s = 12345;
    for (let i = n - 1; i > 0; i--) {
      s = (s * 1103515245 + 12345) >>> 0;
      const j = s % (i + 1);
      [a[i], a[j]] = [a[j] as number, a[i] as number];
    }
    return a;
  }

  test('a random reader faults once per 64 KiB block, the cut last block included', async () => {
    const r = await touchAll(policy('prefetch block 64 KiB'), shuffled(517), 1);
    expect(r.equal).toBe(true);
    // 517 pages: 32 whole blocks of 16 and one of 5.
    expect(r.stats.faults).toBe(33);
    expect(r.stats.resolved.copy).toBe(33);
    expect(r.stats.resolved.prefetch).toBe(517 - 33);
  });

  test('2 MiB blocks from 2 threads: every byte the source, fewer faults than pages', async () => {
    const r = await touchAll(policy('prefetch block 2 MiB'), shuffled(517), 2);
    expect(r.equal).toBe(true);
    expect(r.stats.resolved.copy + r.stats.resolved.prefetch).toBe(517);
    // A 2 MiB block is filled in batches of 256 pages: at most 3 faults for the
    // whole block, plus the cut block's one, plus pages two threads race for.
    expect(r.stats.faults).toBeLessThan(517 / 8);
  });
});
