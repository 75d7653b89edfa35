// Run in the guest by guest-sets.ts (plain node over dist/, quick to start):
// touches a page of set `bad` on the kernel engine, which must end this
// process with SIGBUS. Prints "survived" otherwise.
//   bad-r: a page of region r (the fault program's sigbus);
//   bad-w: a write to a page of region w (the `on write` handler's sigbus).
// usage: node sets-bad.mjs <cache dir> <bad-r|bad-w>
import { join } from 'node:path';

const [cacheDir, mode] = process.argv.slice(2);
const root = join(import.meta.dirname, '..', '..');
const { loadPolicy } = await import(join(root, 'dist', 'runtime', 'index.js'));
const policy = await loadPolicy(join(import.meta.dirname, 'sets.pfp'), { engine: 'kernel', cacheDir });
if (mode === 'bad-r') {
  const r = policy.region('r');
  r.addToSet('bad', 12);
  await r.touch(Uint32Array.of(12), { threads: 1 });
} else {
  const w = policy.region('w');
  w.addToSet('bad', 2);
  await w.touch(Uint32Array.of(2), { threads: 1, write: true, value: 7 });
}
console.log('survived');
await policy.close();
