// Region traits the engines read before the first fault: `defer` on some
// path, the source a region may be mapped from (zero-copy), and 2 MiB blocks
// (huge pages on the kernel engine).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../compiler/index.js';
import type { PolicyIR } from '../../compiler/ir.js';
import { hugeBlocks, rulesDefer, tracksWrites, zeroCopySource } from '../../compiler/region-traits.js';
import { E, S, region } from '../helpers/ir-build.js';

const examples = join(import.meta.dirname, '..', '..', 'examples');

function example(file: string): PolicyIR {
  const path = join(examples, file);
  const r = checkSource(readFileSync(path, 'utf8'), path);
  if (!r.ok) throw new Error(`${file}: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  const p = r.value.policies[0];
  if (!p) throw new Error(`${file}: no policy`);
  return p;
}

describe('tracksWrites', () => {
  it('is true only for a region with `on write` rules', () => {
    expect(tracksWrites(undefined)).toBe(false);
    expect(tracksWrites(region(0, 'r', { onMissing: [S.zero()] }))).toBe(false);
    expect(tracksWrites(region(0, 'r', { onWrite: [S.trackDirty()] }))).toBe(true);
    expect(example('tiered.pfp').regions.some((r) => tracksWrites(r))).toBe(true);
    expect(example('snapshot-restore.pfp').regions.some((r) => tracksWrites(r))).toBe(false);
  });
});

describe('rulesDefer', () => {
  it('finds defer on any path', () => {
    expect(rulesDefer(undefined)).toBe(false);
    expect(rulesDefer([S.zero()])).toBe(false);
    expect(rulesDefer([S.defer()])).toBe(true);
    expect(rulesDefer([S.if(E.v('write'), [S.zero()], [S.if(E.v('read'), [S.zero()], [S.defer()])])])).toBe(true);
    expect(rulesDefer([S.if(E.v('write'), [S.zero()], [S.zero()])])).toBe(false);
  });
});

describe('zeroCopySource', () => {
  it('maps a region whose every page is the source page at the same offset', () => {
    expect(zeroCopySource(region(0, 'r', { onMissing: [S.copy(1, E.v('offset'))] }))).toBe(1);
    expect(zeroCopySource(region(0, 'r', { onMissing: [S.copy(0, E.v('offset')), S.prefetch(15), S.notify()] }))).toBe(0);
  });
  it('keeps anonymous memory for anything else', () => {
    expect(zeroCopySource(undefined)).toBeNull();
    expect(zeroCopySource(region(0, 'r', {}))).toBeNull();
    expect(zeroCopySource(region(0, 'r', { onMissing: [S.copy(0, E.bin('+', E.v('offset'), E.c(4096)))] }))).toBeNull();
    expect(zeroCopySource(region(0, 'r', { onMissing: [S.copy(0, E.v('page'))] }))).toBeNull();
    expect(zeroCopySource(region(0, 'r', { onMissing: [S.if(E.v('write'), [S.copy(0, E.v('offset'))], [S.zero()])] }))).toBeNull();
    expect(zeroCopySource(region(0, 'r', { onMissing: [S.copy(0, E.v('offset'))], onWrite: [S.trackDirty()] }))).toBeNull();
  });
  it('agrees with the examples', () => {
    const restore = example('snapshot-restore.pfp');
    expect(restore.regions.map((r) => zeroCopySource(r))).toEqual([0]);
    // postcopy copies from 64 KiB before the page: not the page's own offset.
    expect(example('postcopy.pfp').regions.every((r) => zeroCopySource(r) === null)).toBe(true);
    // tiered tracks writes.
    expect(example('tiered.pfp').regions.every((r) => zeroCopySource(r) === null)).toBe(true);
  });
});

describe('hugeBlocks', () => {
  it('is true when some path prefetches an aligned block of 2 MiB or more', () => {
    expect(hugeBlocks(undefined)).toBe(false);
    expect(hugeBlocks(region(0, 'r', { onMissing: [S.zero(), S.prefetch(512, 'block')] }))).toBe(true);
    expect(hugeBlocks(region(0, 'r', { onMissing: [S.if(E.v('write'), [S.zero()], [S.zero(), S.prefetch(512, 'block')])] }))).toBe(true);
    // 1 MiB blocks, or 512 pages ahead (not an aligned block): pages, not a huge page.
    expect(hugeBlocks(region(0, 'r', { onMissing: [S.zero(), S.prefetch(256, 'block')] }))).toBe(false);
    expect(hugeBlocks(region(0, 'r', { onMissing: [S.zero(), S.prefetch(512, 'ahead')] }))).toBe(false);
    expect(example('snapshot-restore.pfp').regions.some((r) => hugeBlocks(r))).toBe(false);
  });
});
