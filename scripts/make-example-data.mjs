#!/usr/bin/env node
// Writes the data files the examples read, so every example runs:
//   examples/heap.img  64 MiB  (snapshot-restore, tiered)
//   examples/vm.mem    256 MiB - 64 KiB  (postcopy: its region minus the guard)
// The bytes are a deterministic pattern that differs on every page, so a page
// copied from the wrong offset cannot pass a byte-for-byte check.
// Usage: node scripts/make-example-data.mjs [--force]
import { existsSync, statSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const examples = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples');
const MiB = 1024 * 1024;
const FILES = [
  { name: 'heap.img', size: 64 * MiB, salt: 0x1234567 },
  { name: 'vm.mem', size: 256 * MiB - 64 * 1024, salt: 0x7654321 },
];
const force = process.argv.includes('--force');

/** The pattern's 32-bit little-endian word at word index i of a file with this salt. */
export function patternWord(i, salt) {
  return Math.imul((i ^ salt) >>> 0, 2654435761) >>> 0;
}

async function write({ name, size, salt }) {
  const path = join(examples, name);
  if (!force && existsSync(path) && statSync(path).size === size) return false;
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  const chunk = new Uint32Array(MiB / 4);
  for (let off = 0; off < size; off += MiB) {
    const base = off / 4;
    for (let k = 0; k < chunk.length; k++) chunk[k] = patternWord(base + k, salt);
    const len = Math.min(MiB, size - off);
    await fh.write(new Uint8Array(chunk.buffer, 0, len), 0, len, off);
  }
  await fh.close();
  await rename(tmp, path);
  return true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const f of FILES) {
    const made = await write(f);
    console.log(`${made ? 'wrote' : 'kept '} examples/${f.name} (${f.size} bytes)`);
  }
}
