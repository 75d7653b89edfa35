// Runs in the guest (vite-node), from test/vm/vm-kernel.test.ts: a policy loaded
// on the kernel engine attached to another process's memory through the
// public API (Policy.attachProcess). The child (remote_child.c) maps the
// region's size of anonymous memory and waits; the policy's region is
// attached there; the child reads its first pages. Then the same policy with
// zeroCopy: false in this process: its region is anonymous memory, not a
// mapping of the image, with the same bytes. Prints one JSON line:
// { pages, mismatches, firstMismatch?, events, eventPids, childStatus,
//   anon: { mapped, mismatches } }.
//
// usage: guest-attach.ts <cache dir> <remote_child binary> <pages>
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { loadPolicy, type FaultEvent } from '../../runtime/index.js';
import { comparePage, expectPage, SourceReader } from '../../runtime/run/verify-contents.js';
import { mappedFile } from '../../runtime/proc/maps.js';

const [cacheDir, childBin, pagesArg] = process.argv.slice(2);
if (!cacheDir || !childBin || !pagesArg) {
  console.error('usage: guest-attach.ts <cache dir> <remote_child> <pages>');
  process.exit(2);
}
const pages = Number(pagesArg);
const root = join(import.meta.dirname, '..', '..');

const policy = await loadPolicy(join(root, 'examples', 'snapshot-restore.pfp'), { engine: 'kernel', cacheDir });
const events: FaultEvent[] = [];
policy.on('fault', (e) => events.push(e));
const region = policy.manifest.regions.find((r) => r.id === 'heap');
if (!region) throw new Error('snapshot-restore has no region heap');

const child = spawn(childBin, [String(region.size), String(pages)], { stdio: ['pipe', 'pipe', 'inherit'] });
const lines = createInterface({ input: child.stdout });
const got = new Map<number, string>();
let address = 0n;
const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
for await (const line of lines) {
  const ready = /^ready (0x[0-9a-f]+)$/.exec(line);
  if (ready?.[1]) {
    address = BigInt(ready[1]);
    policy.attachProcess('heap', child.pid ?? 0, address);
    child.stdin.write('go\n');
    continue;
  }
  const [index, hex] = line.split(' ');
  if (index !== undefined && hex !== undefined) got.set(Number(index), hex);
}
const childStatus = await exited;
// The ring buffer is read every 100 ms: let the last events arrive.
await new Promise((res) => setTimeout(res, 500));

const sources = new SourceReader(policy.sourcePaths);
let mismatches = 0;
let firstMismatch: string | undefined;
for (let p = 0; p < pages; p++) {
  const want = expectPage(policy.manifest.ir, region.index, p, address, false, sources);
  const hex = want.kind === 'bytes' ? Buffer.from(want.bytes.subarray(0, 16)).toString('hex') : want.kind;
  if (got.get(p) !== hex) {
    mismatches++;
    firstMismatch ??= `page ${p}: got ${got.get(p) ?? 'nothing'}, want ${hex}`;
  }
}
await policy.close();

const copying = await loadPolicy(join(root, 'examples', 'snapshot-restore.pfp'), { engine: 'kernel', cacheDir, zeroCopy: false });
const heap = copying.region('heap');
await heap.touch(Uint32Array.from({ length: pages }, (_, i) => i), { threads: 1 });
const memory = new Uint8Array(heap.buffer);
let anonMismatches = 0;
for (let p = 0; p < pages; p++) {
  const want = expectPage(copying.manifest.ir, region.index, p, heap.address, false, sources);
  if (want.kind !== 'bytes' || comparePage(memory, p, want.bytes)) anonMismatches++;
}
const anonMapped = mappedFile(heap.address);
await copying.close();
sources.close();
console.log(JSON.stringify({
  pages: got.size,
  mismatches,
  ...(firstMismatch ? { firstMismatch } : {}),
  events: events.map((e) => `${e.region}:${e.offset}:${e.action}:${e.pages}`),
  eventPids: [...new Set(events.map((e) => e.pid))],
  childPid: child.pid,
  childStatus,
  anon: { mapped: anonMapped, mismatches: anonMismatches },
}));
