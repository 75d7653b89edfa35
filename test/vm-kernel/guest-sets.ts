// Runs in the guest (vite-node), from test/vm/vm-sets.test.ts: run-time sets on
// the kernel engine through the public API (Region.addToSet/removeFromSet/
// inSet), on test/vm-kernel/sets.pfp. Fills the sets, touches pages outside
// them from native threads, then runs sets-bad.mjs twice, whose touch of a
// page in a set (by the program, then by the `on write` handler) must end
// it with SIGBUS. Prints one JSON line of what it saw.
//
// usage: guest-sets.ts <cache dir>
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { loadPolicy, type FaultEvent } from '../../runtime/index.js';

const [cacheDir] = process.argv.slice(2);
if (!cacheDir) {
  console.error('usage: guest-sets.ts <cache dir>');
  process.exit(2);
}
const policy = await loadPolicy(join(import.meta.dirname, 'sets.pfp'), { engine: 'kernel', cacheDir });
const r = policy.region('r');
const w = policy.region('w');
const code = (f: () => unknown): string | null => {
  try {
    f();
    return null;
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
};

{
  const events: FaultEvent[] = [];
  policy.on('fault', (e) => events.push(e));
  r.addToSet('bad', 3).addToSet('bad', 10, 3).removeFromSet('bad', 11).addToSet('quiet', 20, 2);
  // Region w's `bad` is its own: page 3 of r is not page 3 of w.
  w.addToSet('bad', 2);
  const has = [3, 10, 11, 12, 13].map((p) => r.inSet('bad', p));
  const hasW = [2, 3].map((p) => w.inSet('bad', p));
  const errors = [() => r.addToSet('nope', 0), () => r.addToSet('bad', 63, 2), () => r.inSet('bad', 64)].map(code);
  await r.touch(Uint32Array.from([0, 1, 11, 13, 20, 21]), { threads: 2 });
  const mem = new Uint8Array(r.buffer);
  const values = [0, 1, 11, 13, 20, 21].map((p) => mem[p * 4096]);
  // Writes outside the set are tracked; page 2 (in it) is left alone here.
  await w.touch(Uint32Array.from([0, 1, 3]), { threads: 1, write: true, value: 9 });
  // A page taken out of the set before its first touch is filled as usual.
  r.addToSet('bad', 30).removeFromSet('bad', 30);
  await r.touch(Uint32Array.of(30), { threads: 1 });
  const s = r.stats();
  await new Promise((res) => setTimeout(res, 300));
  console.log(
    JSON.stringify({
      has,
      hasW,
      errors,
      values,
      page30: new Uint8Array(r.buffer)[30 * 4096],
      stats: { faults: s.faults, fill: s.resolved.fill, zero: s.resolved.zero, sigbus: s.sigbus },
      dirty: w.dirtyPages(),
      wStats: { writeFaults: w.stats().writeFaults, sigbus: w.stats().sigbus },
      notifyEvents: events.filter((e) => e.region === 'r').length,
      bad: ['bad-r', 'bad-w'].map((mode) => {
        const b = spawnSync(process.execPath, [join(import.meta.dirname, 'sets-bad.mjs'), cacheDir, mode], { encoding: 'utf8', timeout: 120_000 });
        return { mode, signal: b.signal, stdout: b.stdout, stderr: b.stderr.slice(-300) };
      }),
    }),
  );
}
await policy.close();
