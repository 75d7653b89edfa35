// The public API (runtime/index.ts) on the uffd engine: choosing a policy in
// a file that holds several, compiled manifests, source overrides, errors.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { compile, CompileError, loadPolicy } from '../../runtime/index.js';
import { skipReason } from '../helpers/uffd.js';

const skip = skipReason('runtime-api');
const dir = mkdtempSync(join(tmpdir(), 'faultc-api-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TWO = `
policy first {
  source data = file "data.bin"
  region a size 4 pages { on missing { copy data } }
}
policy second {
  region b size 2 pages { on missing { fill 0x42 } }
}
`;
writeFileSync(join(dir, 'two.pfp'), TWO);
writeFileSync(join(dir, 'data.bin'), Buffer.alloc(16384, 7));
writeFileSync(join(dir, 'other.bin'), Buffer.alloc(16384, 9));

describe.skipIf(skip)('public API', () => {
  test('a file with several policies: the policy option picks one, without it loading fails plainly', async () => {
    await expect(loadPolicy(join(dir, 'two.pfp'), { engine: 'uffd', cacheDir: dir })).rejects.toMatchObject({
      code: 'FAULTC_POLICY_AMBIGUOUS',
      message: expect.stringMatching(/holds 2 policies \(first, second\)/),
    });
    const p = await loadPolicy(join(dir, 'two.pfp'), { engine: 'uffd', cacheDir: dir, policy: 'second' });
    try {
      expect(p.name).toBe('second');
      expect(p.engine).toBe('uffd');
      const b = p.region('b');
      expect(p.region('b')).toBe(b);
      expect(new Uint8Array(b.buffer)).toEqual(new Uint8Array(8192).fill(0x42));
      expect(() => p.region('a')).toThrow(expect.objectContaining({ code: 'FAULTC_REGION_NOT_FOUND' }));
    } finally {
      await p.close();
    }
    await expect(loadPolicy(join(dir, 'two.pfp'), { engine: 'uffd', cacheDir: dir, policy: 'third' })).rejects.toMatchObject({
      code: 'FAULTC_POLICY_NOT_FOUND',
    });
  });

  test('a compiled manifest loads like the .pfp; sources can be overridden', async () => {
    const out = join(dir, 'out');
    const compiled = await compile(join(dir, 'two.pfp'), { outDir: out, policy: 'first' });
    const manifest = compiled[0]?.manifest ?? '';
    const p = await loadPolicy(manifest, { engine: 'uffd', sources: { data: join(dir, 'other.bin') } });
    try {
      const a = p.region('a');
      expect(new Uint8Array(a.buffer)).toEqual(new Uint8Array(16384).fill(9));
      expect(a.stats()).toMatchObject({ faults: 4, resolved: { copy: 4 }, errors: 0 });
    } finally {
      await p.close();
    }
    const a = p.regionIds;
    expect(a).toEqual(['a']);
    await expect(loadPolicy(manifest, { engine: 'uffd', sources: { nope: '/dev/null' } })).rejects.toMatchObject({ code: 'FAULTC_SOURCE_NOT_FOUND' });
    await expect(loadPolicy(manifest, { engine: 'uffd', sources: { data: join(dir, 'missing.bin') } })).rejects.toMatchObject({
      code: 'FAULTC_UFFD_ENOENT',
      message: expect.stringMatching(/cannot open source .*missing\.bin/),
    });
  });

  test('after close(): buffers are detached and regions cannot be mapped', async () => {
    const p = await loadPolicy(join(dir, 'two.pfp'), { engine: 'uffd', cacheDir: dir, policy: 'second' });
    const b = p.region('b');
    expect(b.buffer.byteLength).toBe(8192);
    await p.close();
    await p.close(); // twice is fine
    expect(b.buffer.byteLength).toBe(0);
    expect(() => p.region('b')).toThrow(expect.objectContaining({ code: 'FAULTC_POLICY_CLOSED' }));
  });

  test("the policy's 'fault' listeners get every region's events; attachProcess checks its arguments and the engine", async () => {
    writeFileSync(join(dir, 'notify.pfp'), 'policy n {\n  region r size 4 pages { on missing { fill 0x11 notify } }\n}\n');
    const p = await loadPolicy(join(dir, 'notify.pfp'), { engine: 'uffd', cacheDir: dir });
    const fromPolicy: string[] = [];
    const fromRegion: string[] = [];
    p.on('fault', (e) => fromPolicy.push(`${e.region}:${e.offset}:${e.pid}`));
    try {
      const r = p.region('r');
      r.on('fault', (e) => fromRegion.push(`${e.region}:${e.offset}:${e.pid}`));
      await r.touch(Uint32Array.from([0, 2]), { threads: 1 });
      expect(() => p.attachProcess('nope', process.pid, 0x10000n)).toThrow(expect.objectContaining({ code: 'FAULTC_REGION_NOT_FOUND' }));
      expect(() => p.attachProcess('r', 0, 0x10000n)).toThrow(expect.objectContaining({ code: 'FAULTC_BAD_ARGUMENT' }));
      expect(() => p.attachProcess('r', process.pid, 0x10001n)).toThrow(expect.objectContaining({ code: 'FAULTC_BAD_ARGUMENT' }));
      expect(() => p.attachProcess('r', process.pid, 0x10000n)).toThrow(expect.objectContaining({ code: 'FAULTC_ENGINE_UNSUPPORTED' }));
    } finally {
      await p.close();
    }
    const want = [`r:0:${process.pid}`, `r:8192:${process.pid}`];
    expect(fromPolicy.sort()).toEqual(want);
    expect(fromRegion.sort()).toEqual(want);
  });

  test('compile() throws CompileError carrying the diagnostics', async () => {
    writeFileSync(join(dir, 'bad.pfp'), 'policy p {\n  region r size 3 KiB { on missing { zero } }\n}\n');
    const e = await compile(join(dir, 'bad.pfp'), { outDir: join(dir, 'bad-out') }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CompileError);
    expect((e as CompileError).diagnostics.length).toBeGreaterThan(0);
    expect((e as CompileError).message).toMatch(/bad\.pfp:2:/);
  });
});
