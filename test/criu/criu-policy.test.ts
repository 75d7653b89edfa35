// The policy language over CRIU images (docs/language.md, "Regions of a
// restored process"): the checks and their codes, and the plan faultc
// lazy-pages derives from a checked policy and a task's images (the daemon
// that follows it is tested with the real CRIU in criu-lazy-pages.test.ts),
// and the working-set file of --record / --replay.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { checkSource, type PolicyIR } from '../../compiler/index.js';
import { PE_LAZY, PE_PRESENT, VMA_ANON_PRIVATE, VMA_FILE_PRIVATE, type TaskImages, type Vma } from '../../runtime/criu/images.js';
import { lazyAreas } from '../../runtime/criu/lazy-pages.js';
import { PLAN_SIGBUS, PLAN_ZERO, imagePolicy, planFill, planTask } from '../../runtime/criu/plan.js';
import { readWorkingSet, toRuns, workingSetOf } from '../../runtime/criu/working-set.js';

const P = 4096;

function check(body: string) {
  return checkSource(`policy p {\n  source image = criu "img"\n${body}\n}\n`, '/tmp/p.pfp');
}

function codes(body: string): string[] {
  return check(body).diagnostics.map((d) => d.code);
}

describe('regions taken from a criu image: checks', () => {
  test('every kind of area compiles; the policy runs on no engine of faultc run', () => {
    const r = check(`  region heap in image "[heap]" { on missing { copy image prefetch 7 pages } }
  region stack in image "[stack]" { on missing { copy image at address } }
  region libc in image "/usr/lib/libc.so.6" { on missing { zero } }
  region w in image at 0x7f00_0000_0000 size 2 MiB { on missing { if offset < 1 MiB { fill 0xA5 } else { sigbus } } }
  region rest in image anonymous { on missing { copy image at address + 4 KiB } }`);
    expect(r.diagnostics).toEqual([]);
    const p = r.ok ? r.value.policies[0]! : undefined;
    expect(p?.engines).toEqual([]);
    expect(p?.regions.map((x) => x.image?.select)).toEqual([
      { kind: 'heap' },
      { kind: 'stack' },
      { kind: 'file', path: '/usr/lib/libc.so.6' },
      { kind: 'range', start: 0x7f0000000000n, size: 2n << 20n },
      { kind: 'anonymous' },
    ]);
  });

  test.each([
    ['an unknown kind of area', '  region r in image "heap" { on missing { copy image } }', 'PFP4030'],
    ['a misspelt word', '  region r in image anonymus { on missing { copy image } }', 'PFP4030'],
    ['a source that is no image', '  source f = file "x"\n  region r in f "[heap]" { on missing { copy f } }', 'PFP3030'],
    ['an undeclared image', '  region r in imag "[heap]" { on missing { copy image } }', 'PFP3005'],
    ['a read/write test', '  region r in image "[heap]" { on missing { if read { copy image } else { zero } } }', 'PFP5030'],
    ['a run-time set', '  set hot\n  region r in image "[heap]" { on missing { if page in hot { copy image } else { zero } } }', 'PFP5030'],
    ['on write', '  region r in image "[heap]" { on missing { copy image } on write { sigbus } }', 'PFP5033'],
    ['defer', '  region r in image "[heap]" { on missing { defer } }', 'PFP5033'],
    ['prefetch behind', '  region r in image "[heap]" { on missing { copy image prefetch 4 pages behind } }', 'PFP5033'],
    ['a copy from another source', '  source f = file "x"\n  region r in image "[heap]" { on missing { copy f } }', 'PFP5031'],
    ['a region of its own size beside image regions', '  region r in image "[heap]" { on missing { copy image } }\n  region s size 4 KiB { on missing { zero } }', 'PFP3031'],
    ['an image region\'s size', '  region r in image "[heap]" { on missing { copy image } }\n  region s in image "[stack]" { on missing { if offset < r.size { copy image } else { zero } } }', 'PFP4031'],
    ['an unaligned range', '  region r in image at 0x1001 size 4 KiB { on missing { copy image } }', 'PFP4009'],
  ])('%s', (_what, body, code) => {
    const r = check(body);
    expect(r.ok).toBe(false);
    expect(r.diagnostics.map((d) => d.code)).toContain(code);
  });

  test('copying an image into a region of its own size is refused', () => {
    expect(codes('  region r size 4 KiB { on missing { copy image } }')).toContain('PFP5032');
  });

  test('notify is accepted with a warning: the daemon reports counts, not events', () => {
    const r = check('  region r in image "[heap]" { on missing { copy image notify } }');
    expect(r.ok).toBe(true);
    expect(r.diagnostics.map((d) => [d.code, d.severity])).toEqual([['PFP6010', 'warning']]);
  });

  test('a file with no image policy, or two, is refused for lazy-pages', () => {
    const plain = checkSource('policy a { region r size 4 KiB { on missing { zero } } }', '/tmp/a.pfp');
    expect(plain.ok && imagePolicy(plain.value.policies)).toMatch(/no policy with regions taken from a criu source/);
  });
});

/** A task of three areas: a brk heap (4 pages, 2 lazy), a libc data page, and an anonymous area with the stack start. */
function task(): TaskImages {
  const vma = (start: number, pages: number, status: number, shmid = 0): Vma => ({ start, end: start + pages * P, pgoff: 0, shmid, prot: 3, flags: 0x22, status });
  const heap = vma(0x10000, 4, VMA_ANON_PRIVATE | 1);
  const libc = vma(0x20000, 1, VMA_FILE_PRIVATE | 1, 7);
  const stack = vma(0x7ff000, 3, VMA_ANON_PRIVATE | 1);
  return {
    pid: 42,
    vmas: [heap, libc, stack],
    pagesPath: '/nonexistent',
    pagemap: {
      pagesId: 1,
      presentBytes: 0,
      entries: [
        { vaddr: 0x10000, nrPages: 2, flags: PE_LAZY | PE_PRESENT, fileOffset: 0 },
        { vaddr: 0x12000, nrPages: 1, flags: PE_PRESENT, fileOffset: 2 * P },
        { vaddr: 0x20000, nrPages: 1, flags: PE_LAZY | PE_PRESENT, fileOffset: 3 * P },
        { vaddr: 0x7ff000, nrPages: 3, flags: PE_LAZY | PE_PRESENT, fileOffset: 4 * P },
      ],
    },
  };
}

function plan(body: string) {
  const r = check(body);
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  const t = task();
  const names = new Map([[7, '/usr/lib/libc.so.6']]);
  return planTask(r.value.policies[0] as PolicyIR, t, lazyAreas(t), names, { startStack: 0x800100, startBrk: 0x10000, brk: 0x14000 }, 7 * P, 15);
}

describe('regions taken from a criu image: the plan faultc lazy-pages follows', () => {
  test('heap by brk, a file by its path, the stack by its start; the first region that takes a page has it', () => {
    const p = plan(`  region heap in image "[heap]" { on missing { copy image prefetch 3 pages } }
  region libc in image "/usr/lib/libc.so.6" { on missing { fill 0xA5 } }
  region stack in image "[stack]" { on missing { if page == 1 { sigbus } else { zero } } }
  region all in image anonymous { on missing { copy image } }`);
    expect(p.pages).toEqual({ '': 0, heap: 2, libc: 1, stack: 3, all: 0 });
    expect([...p.plan]).toEqual([0n, BigInt(P), planFill(0xa5), PLAN_ZERO, PLAN_SIGBUS, PLAN_ZERO]);
    expect([...p.ahead]).toEqual([3, 3, 0, 0, 0, 0]);
  });

  test('copy at another image address: a present page, a page the image lacks inside an area (zeros), one outside every area (sigbus)', () => {
    const p = plan(`  region heap in image "[heap]" { on missing { if page == 0 { copy image at address + 2 pages } else { copy image at address + 3 pages } } }
  region stack in image at 0x7ff000 size 3 pages { on missing { copy image at 0x900000 } }`);
    // heap page 0 <- 0x12000 (present, not lazy: file offset 2 pages); heap page 1 <- 0x14000 (no area: sigbus)
    expect([...p.plan].slice(0, 2)).toEqual([BigInt(2 * P), PLAN_SIGBUS]);
    expect([...p.plan].slice(3)).toEqual([PLAN_SIGBUS, PLAN_SIGBUS, PLAN_SIGBUS]);
    // libc: no region takes it: its own page, the daemon's prefetch.
    expect(p.plan[2]).toBe(BigInt(3 * P));
    expect(p.ahead[2]).toBe(15);
    expect(p.pages['']).toBe(1);
  });

  test('a hole of an area reads as zeros; offset runs through the region\'s areas in address order', () => {
    const p = plan(`  region heap in image "[heap]" { on missing { copy image at address + 2 pages } }
  region rest in image anonymous { on missing { if offset == 1 pages { copy image at 0x13000 } else { copy image } } }`);
    // heap page 1 <- 0x13000: inside the heap area, no page in the image: zeros.
    expect(p.plan[1]).toBe(PLAN_ZERO);
    // rest: the stack area's pages are at offsets 16 KiB.. (after the 4 heap pages); none is at offset 1 page.
    expect([...p.plan].slice(3)).toEqual([BigInt(4 * P), BigInt(5 * P), BigInt(6 * P)]);
  });
});

describe('the working-set file of --record / --replay', () => {
  const dir = mkdtempSync(join(tmpdir(), 'faultc-ws-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, v: unknown): string => {
    const path = join(dir, name);
    writeFileSync(path, typeof v === 'string' ? v : JSON.stringify(v));
    return path;
  };
  const A = 0x7f0000000000;
  const at = (i: number): bigint => BigInt(A + i * P);

  test('version 2 keeps the first-touch order as runs of consecutive pages, a page once', () => {
    // 5, 6, 7 touched in a row; 2; 6 again (no first touch: 3 still follows 2); 8 comes after 7 in address only.
    const r = toRuns([5, 6, 7, 2, 6, 3, 8].map(at));
    expect(r).toEqual({
      pages: 6,
      runs: [
        ['0x' + (A + 5 * P).toString(16), 3],
        ['0x' + (A + 2 * P).toString(16), 2],
        ['0x' + (A + 8 * P).toString(16), 1],
      ],
    });
    // A sequential sweep of 1 GiB is one run.
    const sweep = toRuns(Array.from({ length: 262_144 }, (_, i) => at(i)));
    expect(sweep.runs).toEqual([['0x' + A.toString(16), 262_144]]);
  });

  test('written and read back: the same pages in the same order; forks without a pid are left out', () => {
    const order = [9, 1, 2, 3, 40, 41, 7].map(at);
    const ws = workingSetOf([
      { pid: 42, recorded: order },
      { pid: 0, recorded: [at(1)] },
    ]);
    expect(ws).toMatchObject({ version: 2, kind: 'criu-working-set', pageSize: 4096 });
    expect(ws.tasks.map((t) => [t.pid, t.pages, t.runs.length])).toEqual([[42, 7, 4]]);
    const back = readWorkingSet(file('v2.json', ws));
    expect([...back.keys()]).toEqual([42]);
    expect(back.get(42)!.map(BigInt)).toEqual(order);
  });

  test('version 1 (one address per page) is still read', () => {
    const back = readWorkingSet(file('v1.json', { version: 1, kind: 'criu-working-set', pageSize: 4096, tasks: [{ pid: 7, pages: ['0x7f0000003000', '0x7f0000001000'] }] }));
    expect(back.get(7)).toEqual([A + 3 * P, A + P]);
  });

  test('what cannot be replayed is refused with FAULTC_CRIU_WORKING_SET and says why', () => {
    const base = { kind: 'criu-working-set', pageSize: 4096 };
    const cases: [unknown, RegExp][] = [
      ['{"version": 2, ', /cannot read .*bad-0\.json/],
      [{ ...base, version: 3, tasks: [] }, /version 3 is not supported \(this faultc reads versions 1 and 2\)/],
      [{ version: 2, kind: 'trace-working-set', pageSize: 4096, tasks: [] }, /not a working set written by faultc lazy-pages --record/],
      [{ ...base, version: 2, pageSize: 65536, tasks: [] }, /page size 65536, not 4096/],
      [{ ...base, version: 2, tasks: [{ pid: 1, runs: [['0x7f0000000800', 1]] }] }, /pid 1: "0x7f0000000800" is not a page address/],
      [{ ...base, version: 2, tasks: [{ pid: 1, runs: [['0x7f0000000000', 0]] }] }, /pid 1: run 0 has 0 pages \(a positive integer\)/],
      [{ ...base, version: 2, tasks: [{ pid: 1, runs: [['0x7f0000000000']] }] }, /pid 1: run 0 is not \[address, pages\]/],
      [{ ...base, version: 2, tasks: [{ pid: 1, pages: 3, runs: [['0x7f0000000000', 2]] }] }, /pid 1: its runs hold 2 pages, "pages" says 3/],
      [{ ...base, version: 2, tasks: [{ pid: 1, runs: [] }, { pid: 1, runs: [] }] }, /pid 1 is listed twice/],
      [{ ...base, version: 1, tasks: [{ pid: 1, pages: ['12'] }] }, /pid 1: "12" is not a page address/],
    ];
    cases.forEach(([content, message], i) => {
      const path = file(`bad-${i}.json`, content);
      expect(() => readWorkingSet(path)).toThrowError(message);
      try {
        readWorkingSet(path);
      } catch (e) {
        expect((e as { code?: string }).code).toBe('FAULTC_CRIU_WORKING_SET');
      }
    });
  });
});
